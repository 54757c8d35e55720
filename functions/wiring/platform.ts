import type { Logger } from '@aws-lambda-powertools/logger';
import type { BuildRights, GitlabDeps } from '../domain/gitlab-link';
import type { Build } from '../domain/model';
import type {
  Builder,
  BuildLogs,
  Deployer,
  GitlabApiFactory,
  Notifier,
  PlatformProbe,
  Registry,
  Store,
  TaskTokens,
  Vault,
  Workflow,
} from '../domain/ports';

/**
 * What a world (Lambda, local mode) provides: one part per capability, each a function that
 * makes the adapter on first use. The services (`services.ts`) are assembled from these parts
 * the same way in both worlds.
 *
 * On Lambda each part is a module of its own (`wiring/aws/*.ts`), cached per cold start: esbuild
 * keeps every module a bundle imports, used or not, so an entry imports only the parts its
 * service needs and the webhook bundles never carry @gitbeaker, CodeBuild or ECS.
 */
export interface Platform {
  logger: () => Logger;
  store: () => Store;
  vault: () => Vault;
  /** Starts release executions: Step Functions on AWS, the local executor locally. */
  workflow: () => Workflow;
  /** Completes the release workflow's waits: Step Functions task tokens, the local executor's. */
  tasks: () => TaskTokens;
  /** GitLab's REST API: the same adapter in both worlds (`gitlab.ts`). */
  gitlab: () => GitlabApiFactory;
  /** Deploy keys and known_hosts, for `apps link` (`gitlab.ts`): the admin API only. */
  sshKeys: () => Pick<GitlabDeps, 'keys' | 'knownHosts'>;
  /** Per-app build rights made at `apps link`: IAM roles on AWS, nothing locally. */
  buildRights: () => BuildRights;
  /** Where build logs are read from: CloudWatch Logs on AWS, the state dir locally. */
  buildLogs: () => BuildLogs;
  /** The base URL people and GitLab reach Slipway at, when known. */
  publicUrl: () => string | undefined;
  /** The 32-byte key console sessions are sealed with. */
  sessionKey: () => () => Promise<Uint8Array>;
  /** What the release steps run builds, images and rollouts with. */
  release: () => ReleaseParts;
  /** Rollouts: ECS on AWS, docker locally. The release steps' deployer, also read by rollout events. */
  deployer: () => Deployer;
  /** What `slipway doctor` checks the platform with: CodeBuild and Step Functions on AWS; the definition, buildspec and docker locally. */
  platformProbe: () => PlatformProbe;
  /** Whether Slack is configured, when this world can tell (undefined: not known here). */
  slackConfigured: () => () => Promise<boolean | undefined>;
}

export interface ReleaseParts {
  builder: Builder;
  registry: Registry;
  deployer: Deployer;
  /** The release workflow a step names (`$$.StateMachine.Id`): fan-out starts executions of it. */
  releaseWorkflow?: (stateMachine: string | undefined) => Workflow;
  notifier: Notifier;
  /** Where a commit status links to for a build. */
  targetUrl: (build: Build) => string | undefined;
}

/** A part made once, on first use, and kept (per cold start on Lambda). */
export function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}
