import type { Command } from 'commander';
import type { DeliveryMetrics } from '../../functions/domain/metrics';
import { callApi } from '../api-client';
import { printable, printJson } from '../output';
import { globals, target } from './context';

const enc = encodeURIComponent;

const MAX_DAYS = 365;

/** The admin API's answer (PRODUCT.md "Delivery metrics (contract)"): the domain's figures as JSON. */
export type MetricsView = DeliveryMetrics;

/**
 * `slipway metrics NAME [--days N]`: the app's delivery metrics over the last N days (default
 * 30): deployments, lead time, change failure rate, time to restore, and a line per day.
 */
export function registerMetrics(program: Command): void {
  program
    .command('metrics')
    .description("an app's delivery metrics: deployments, lead time, change failure rate, time to restore")
    .argument('<name>')
    .option('--days <n>', `window in days, 1-${MAX_DAYS}`, '30')
    .option('--env <environment>', "count one environment's releases only (default: every environment's)")
    .action(async (name: string, options: { days: string; env?: string }, command: Command) => {
      const days = /^\d{1,3}$/.test(options.days) ? Number(options.days) : Number.NaN;
      if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
        command.error(`error: --days must be a whole number from 1 to ${MAX_DAYS}, not "${options.days}"`, {
          exitCode: 2,
        });
      }
      const metrics = await callApi<MetricsView>(
        await target(command),
        'GET',
        `/v1/apps/${enc(name)}/metrics?days=${days}${options.env !== undefined ? `&env=${enc(options.env)}` : ''}`,
      );
      if (globals(command).json) printJson(metrics);
      else process.stdout.write(formatMetrics(metrics));
    });
}

/** The metrics as a small table for people. */
export function formatMetrics(m: MetricsView): string {
  const first = m.daily[0]?.date ?? m.from.slice(0, 10);
  const last = m.daily[m.daily.length - 1]?.date ?? m.to.slice(0, 10);
  const rows: Array<[string, string]> = [
    ['app', printable(m.app)],
    ['window', `${m.days} day${m.days === 1 ? '' : 's'} (${m.from} to ${m.to})`],
    ['deployments', `${m.deployments} (${m.deploymentsPerDay} per day)`],
    [
      'lead time',
      m.leadTimeSeconds
        ? `median ${duration(m.leadTimeSeconds.median)}, p90 ${duration(m.leadTimeSeconds.p90)}`
        : 'n/a',
    ],
    ['change failure rate', m.changeFailureRate === null ? 'n/a' : percent(m.changeFailureRate)],
    ['time to restore', m.timeToRestoreSeconds ? `median ${duration(m.timeToRestoreSeconds.median)}` : 'n/a'],
    ['deployments/day', `${sparkline(m.daily.map((d) => d.deployments))}  ${first} .. ${last}`],
    ['failures/day', `${sparkline(m.daily.map((d) => d.failures))}`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}\n`).join('');
}

/** A duration for people: the two largest units, e.g. `2h 5m`, `1d 3h`, `42s`. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'n/a';
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.round(seconds);
  const counts = units.map(([unit, size]) => {
    const count = Math.floor(rest / size);
    rest -= count * size;
    return { unit, count };
  });
  const top = counts.findIndex((c) => c.count > 0);
  if (top < 0) return '0s';
  return counts
    .slice(top, top + 2)
    .filter((c) => c.count > 0)
    .map((c) => `${c.count}${c.unit}`)
    .join(' ');
}

function percent(rate: number): string {
  return `${Math.round(rate * 10_000) / 100}%`;
}

const BARS = '▁▂▃▄▅▆▇█';

/** One character per day: `·` for none, else a bar scaled to the busiest day. */
export function sparkline(values: number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((v) =>
      v <= 0 || max === 0 ? '·' : (BARS[Math.min(BARS.length - 1, Math.ceil((v / max) * BARS.length) - 1)] ?? '█'),
    )
    .join('');
}
