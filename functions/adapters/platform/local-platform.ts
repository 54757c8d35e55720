import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { parse as parseYaml } from 'yaml';
import type { PlatformFinding, PlatformProbe } from '../../domain/ports';
import { RELEASE_DEFINITION_PATH } from '../../workflow/local-executor';

export interface LocalPlatformOptions {
  /** The repository root (workflow/, buildspecs/). */
  root: string;
  /** The docker CLI to ask. @default 'docker' (found on PATH, as the local builder finds it) */
  docker?: string;
  /** How long `docker version` may take. @default 5000 */
  timeoutMs?: number;
}

/**
 * Local mode's platform, as `slipway doctor` checks it: the release workflow definition loads in
 * the local executor (the one Step Functions runs on AWS), the buildspec parses, and the docker
 * CLI on PATH reaches its engine (builds and deploys need both).
 */
export class LocalPlatformProbe implements PlatformProbe {
  constructor(private readonly options: LocalPlatformOptions) {}

  async probe(): Promise<PlatformFinding[]> {
    return Promise.all([this.workflow(), this.buildspec(), this.docker()]);
  }

  private async workflow(): Promise<PlatformFinding> {
    const base = { id: 'local.workflow', title: 'release workflow' };
    try {
      const definition = JSON.parse(await readFile(join(this.options.root, RELEASE_DEFINITION_PATH), 'utf8'));
      // Validates the definition as the local executor will run it.
      new StateMachine(definition);
      const states = Object.keys((definition as { States?: object }).States ?? {}).length;
      return { ...base, ok: true, detail: `${RELEASE_DEFINITION_PATH} loads (${states} states)` };
    } catch (error) {
      return {
        ...base,
        ok: false,
        detail: `${RELEASE_DEFINITION_PATH} does not load: ${oneLine(error)}`,
        advice: 'restore workflow/release.asl.json from the Slipway release you run',
      };
    }
  }

  private async buildspec(): Promise<PlatformFinding> {
    const base = { id: 'local.buildspec', title: 'buildspec' };
    const path = join('buildspecs', 'build.yml');
    try {
      const spec = parseYaml(await readFile(join(this.options.root, path), 'utf8')) as { phases?: object } | null;
      if (!spec?.phases) throw new Error('no phases');
      return { ...base, ok: true, detail: `${path} parses` };
    } catch (error) {
      return {
        ...base,
        ok: false,
        detail: `${path} is not usable: ${oneLine(error)}`,
        advice: 'restore buildspecs/ from the Slipway release you run',
      };
    }
  }

  private docker(): Promise<PlatformFinding> {
    const base = { id: 'local.docker', title: 'docker' };
    const docker = this.options.docker ?? 'docker';
    return new Promise((resolve) => {
      execFile(
        docker,
        ['version', '--format', '{{.Server.Version}}'],
        // This process's environment as it is now (PATH included), as the local builder passes it.
        { timeout: this.options.timeoutMs ?? 5000, encoding: 'utf8', env: { ...process.env } },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ ...base, ok: true, detail: `the docker engine answers (${stdout.trim() || 'version unknown'})` });
          } else if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
            resolve({
              ...base,
              ok: false,
              detail: 'no docker CLI on PATH: local builds and deploys need it',
              advice: 'install Docker (or put its CLI on PATH) and start local mode again',
            });
          } else {
            resolve({
              ...base,
              ok: false,
              detail: `the docker engine does not answer: ${oneLine(stderr || error)}`,
              advice: 'start the Docker engine (docker version must show a Server)',
            });
          }
        },
      );
    });
  }
}

function oneLine(value: unknown): string {
  const text = value instanceof Error ? value.message : String(value);
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
