import {
  BatchGetBuildsCommand,
  type CodeBuildClient,
  type Build as CodeBuildRun,
  type EnvironmentVariable,
  StartBuildCommand,
  StopBuildCommand,
} from '@aws-sdk/client-codebuild';
import { buildspecInputs } from '../../build/buildspec-env';
import { TransientError } from '../../domain/errors';
import type { Builder, BuildJob, BuildRunState } from '../../domain/ports';
import { buildRoleArn } from './build-roles';

export interface CodeBuildBuilderOptions {
  client: CodeBuildClient;
  /** The CodeBuild project that runs `buildspecs/build.yml`. */
  projectName: string;
  /** The project's CloudWatch Logs group (its `logsConfig`), for the build's log location. */
  logGroupName: string;
  /**
   * `arn:…:role/slipway/builds/<prefix>` (the stack's `BUILD_ROLE_ARN_PREFIX`): each build runs
   * with its own app's role, this plus the app name, which may decrypt only that app's deploy
   * key and pull and push only that app's repository.
   */
  buildRoleArnPrefix: string;
}

/** Thrown before StartBuild when a job would put something secret-looking into the overrides. */
export class UnsafeBuildJobError extends Error {
  override name = 'UnsafeBuildJobError';
}

/**
 * The AWS builder: one CodeBuild build per Slipway build, run with its app's own role
 * (`serviceRoleOverride`). The build's environment overrides carry only ids, URLs, public host
 * keys and the deploy key's vault *ciphertext* (decrypted inside the build, by that role, which
 * may decrypt only this app's deploy key). They are visible
 * to anyone who may read the build (`BatchGetBuilds`) and appear in its state-change events,
 * so nothing secret may go there: a job whose values look like a plaintext key is refused.
 */
export class CodeBuildBuilder implements Builder {
  constructor(private readonly options: CodeBuildBuilderOptions) {}

  async start(job: BuildJob): Promise<{ ref: string; logLocation: string }> {
    const out = await this.options.client
      .send(
        new StartBuildCommand({
          projectName: this.options.projectName,
          // Valid for 5 minutes: a retried start of the same build starts nothing new.
          idempotencyToken: job.buildId,
          environmentVariablesOverride: buildEnvironment(job),
          serviceRoleOverride: buildRoleArn(this.options.buildRoleArnPrefix, job.app),
        }),
      )
      .catch((error: unknown) => {
        throw missingRoleHint(error, job.app);
      });
    const build = out.build;
    if (!build?.arn || !build.id) throw new Error(`CodeBuild started no build for ${job.app}/${job.buildId}`);
    // A project without a stream-name prefix logs to a stream named after the build's UUID
    // (the part of `<project>:<uuid>` after the colon).
    const stream = build.logs?.streamName ?? build.id.slice(build.id.lastIndexOf(':') + 1);
    const group = build.logs?.groupName ?? this.options.logGroupName;
    return { ref: build.arn, logLocation: `${group}:${stream}` };
  }

  /** BatchGetBuilds: how the run stands, as its state-change event would have said. */
  async describe(ref: string): Promise<BuildRunState> {
    const out = await this.options.client.send(new BatchGetBuildsCommand({ ids: [buildIdOf(ref)] }));
    const run = out.builds?.[0];
    if (!run) return { status: 'failed', reason: `CodeBuild has no build ${buildIdOf(ref)}` };
    return runState(run);
  }

  /** StopBuild; a build that has already ended (CodeBuild answers InvalidInputException) is left alone. */
  async cancel(ref: string): Promise<void> {
    const id = buildIdOf(ref);
    try {
      await this.options.client.send(new StopBuildCommand({ id }));
    } catch (error) {
      if (!(error instanceof Error && error.name === 'InvalidInputException')) throw error;
    }
  }
}

/** The ref is the build ARN (`arn:…:build/<project>:<uuid>`); the API wants `<project>:<uuid>`. */
function buildIdOf(ref: string): string {
  return ref.slice(ref.indexOf(':build/') + 1).replace(/^build\//, '');
}

/** A BatchGetBuilds build as a run state: the images it exported, or its first failed phase. */
export function runState(run: CodeBuildRun): BuildRunState {
  switch (run.buildStatus) {
    case 'SUCCEEDED': {
      const exported = run.exportedEnvironmentVariables?.find((v) => v.name === 'SLIPWAY_IMAGES')?.value;
      let images: Record<string, string> | undefined;
      try {
        const parsed: unknown = exported ? JSON.parse(exported) : undefined;
        if (parsed && typeof parsed === 'object' && Object.values(parsed).every((v) => typeof v === 'string')) {
          images = parsed as Record<string, string>;
        }
      } catch {
        images = undefined;
      }
      return { status: 'succeeded', ...(images ? { images } : {}) };
    }
    case 'STOPPED':
      return { status: 'canceled', reason: 'the build was stopped in CodeBuild' };
    case 'FAILED':
    case 'FAULT':
    case 'TIMED_OUT': {
      const failed = run.phases?.find((p) => p.phaseStatus && p.phaseStatus !== 'SUCCEEDED');
      const context = (failed?.contexts ?? [])
        .map((c) => [c.statusCode, c.message].filter(Boolean).join(': '))
        .filter(Boolean)
        .join('; ');
      const reason = failed
        ? `${failed.phaseType}: ${context || String(failed.phaseStatus).toLowerCase()}`
        : `the build ended ${run.buildStatus}`;
      return { status: 'failed', reason };
    }
    default:
      return { status: 'running' };
  }
}

/**
 * CodeBuild refuses a build whose role it cannot assume (InvalidInputException naming the role
 * or `sts:AssumeRole`). Right after `apps link` that is IAM still propagating the new role, so
 * it is retried (TransientError: the workflow backs off for about two minutes); if it lasts,
 * the app has no role (linked before per-app build roles) and the failure says what to run.
 */
function missingRoleHint(error: unknown, app: string): unknown {
  if (
    error instanceof Error &&
    (error.name === 'InvalidInputException' || error.name === 'AccessDeniedException') &&
    /role|AssumeRole/i.test(error.message)
  ) {
    return new TransientError(
      `CodeBuild cannot use the build role of ${app} (${error.message.slice(0, 300)}). Just after linking, IAM ` +
        `may still be propagating it; otherwise the app was linked before per-app build roles: run slipway apps link ${app}`,
      { cause: error },
    );
  }
  return error;
}

/** The overrides, all PLAINTEXT, none secret. Exported for the local runner's parity tests. */
export function buildEnvironment(job: BuildJob): EnvironmentVariable[] {
  const values = buildspecInputs(job, { push: true, registry: registryHost(job.imageRepository) });

  for (const [name, value] of Object.entries(values)) {
    if (/PRIVATE KEY/.test(value)) throw new UnsafeBuildJobError(`${name} looks like a plaintext private key`);
  }
  if (!/^[a-z0-9]+:/i.test(job.deployKeyCiphertext)) {
    throw new UnsafeBuildJobError('SLIPWAY_DEPLOY_KEY_CIPHERTEXT is not a vault ciphertext');
  }
  return Object.entries(values).map(([name, value]) => ({ name, value, type: 'PLAINTEXT' }));
}

/** `123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/web` → `123456789012.dkr.ecr.eu-west-1.amazonaws.com`. */
export function registryHost(repositoryUri: string): string {
  const slash = repositoryUri.indexOf('/');
  return slash === -1 ? repositoryUri : repositoryUri.slice(0, slash);
}
