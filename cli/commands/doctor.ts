import type { Command } from 'commander';
import type { DoctorCheck, DoctorReport } from '../../functions/domain/doctor';
import { CliError, callApi } from '../api-client';
import { printable, printJson } from '../output';
import { globals, target } from './context';

const MARKS: Record<DoctorCheck['status'], string> = { ok: '✓', fixed: '✓', fail: '✗', info: '·' };

/**
 * `slipway doctor [--fix]`: checks the deployment end to end (the admin API answers, GitLab
 * token, each linked app's hook and deploy key, the platform, Slack) and says what to fix.
 * Exit 0 when all is well, 1 (one line on stderr) when something is wrong.
 */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the deployment end to end and say what to fix (exit 1 when something is wrong)')
    .option('--fix', 're-enable the app hooks GitLab disabled (GitLab delivers a test push to each)')
    .action(async (options: { fix?: boolean }, command: Command) => {
      const api = await target(command);
      // Reaching the API at all is the first check: an unreachable one fails here, in one line.
      const report = options.fix
        ? await callApi<DoctorReport>(api, 'POST', '/v1/doctor/fix', {})
        : await callApi<DoctorReport>(api, 'GET', '/v1/doctor');
      const reached: DoctorCheck = { id: 'api', status: 'ok', title: 'admin API', detail: `reachable at ${api.url}` };
      const checks = [reached, ...report.checks];
      if (globals(command).json) printJson({ ...report, checks });
      else process.stdout.write(formatReport(checks));
      const failed = checks.filter((c) => c.status === 'fail').length;
      if (failed > 0) {
        throw new CliError(
          `doctor found ${failed} problem${failed === 1 ? '' : 's'}${options.fix ? '' : ' (see the advice above; some are fixed by --fix)'}`,
        );
      }
    });
}

/** One line per check (✓ ok or fixed, ✗ to fix, · for information), its advice indented below. */
export function formatReport(checks: DoctorCheck[]): string {
  const width = Math.max(...checks.map((c) => c.title.length));
  return checks
    .map((c) => {
      const line = `${MARKS[c.status]} ${printable(c.title).padEnd(width)}  ${printable(c.detail)}${c.status === 'fixed' ? ' (fixed)' : ''}`;
      return c.advice && c.status !== 'ok'
        ? `${line}\n  ${' '.repeat(width)}  → ${printable(c.advice)}\n`
        : `${line}\n`;
    })
    .join('');
}
