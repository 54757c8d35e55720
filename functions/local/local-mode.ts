import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withTransientErrors } from '../adapters/aws-errors';
import { localBuildRights } from '../adapters/builder/local-build-rights';
import { LocalBuilder } from '../adapters/builder/local-builder';
import { LocalDeployer } from '../adapters/deploy/local-deployer';
import { type DynamoDbLocalRestarts, superviseDynamoDbLocal } from '../adapters/dynamodb/local-server';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { ensureTable } from '../adapters/dynamodb/table';
import { FileBuildLogs } from '../adapters/logs/file-build-logs';
import { ConsoleNotifier, SlackNotifier } from '../adapters/notify/slack-notifier';
import { LocalPlatformProbe } from '../adapters/platform/local-platform';
import { LocalRegistry } from '../adapters/registry/local-registry';
import { LocalVault } from '../adapters/vault/local-vault';
import { LocalReleaseWorkflow, type LocalReleaseWorkflowOptions } from '../adapters/workflow/local-workflow';
import { createLogger } from '../commons/logger';
import { findProjectRoot } from '../commons/project-root';
import { FUNCTION_TIMEOUTS } from '../commons/timeouts';
import { createConsoleHandler } from '../console/handler';
import { expireStaleApprovals } from '../domain/approvals';
import { applyBuildEvent, type BuildEvent } from '../domain/build-events';
import { matchesHash, sha256Hex } from '../domain/ids';
import type { Builder, Deployer } from '../domain/ports';
import { resumeInFlight } from '../domain/resume';
import { SWEEP_MIN_AGE_MS, sweepUnstartedBuilds } from '../domain/sweep';
import { createAdminHandler } from '../http/admin-api';
import type { HttpHandler } from '../http/middleware';
import { createProjectWebhookHandler } from '../http/project-webhook';
import { json } from '../http/responses';
import { createSystemHookHandler } from '../http/system-hook';
import { gitlab } from '../wiring/gitlab';
import { warnUndelivered } from '../wiring/notices';
import { once, type Platform } from '../wiring/platform';
import { createServices } from '../wiring/services';
import { sshKeys } from '../wiring/ssh-keys';
import { apiGatewayListener } from './http-adapter';
import { StateDir } from './state-dir';

export const LOCAL_TABLE = 'slipway';

export interface LocalModeOptions {
  port?: number;
  /** Loopback only: `127.0.0.1` (default) or `::1`; anything else is refused. */
  host?: string;
  stateDir?: StateDir;
  publicUrl?: string;
  systemHookToken?: string;
  /** Keep DynamoDB Local in memory instead of under the state dir (tests, benchmarks). */
  inMemory?: boolean;
  /** Use an already running DynamoDB endpoint instead of starting one. */
  dynamoDbEndpoint?: string;
  /** Table name in DynamoDB (default `slipway`); tests sharing one DynamoDB Local use their own. */
  tableName?: string;
  /** Slack incoming-webhook URL (validated `SLACK_WEBHOOK_URL`); without it notices go to the console. */
  slackWebhookUrl?: string;
  /** Where release notices go without a Slack URL. @default process.stdout */
  console?: NodeJS.WritableStream;
  /** The release workflow's local pacing (tests, benchmarks). */
  workflow?: LocalReleaseWorkflowOptions;
  /**
   * Replace the builder and deployer (benchmarks measuring orchestration alone). A replacement
   * builder reports through `local.store` (applyBuildEvent) and `local.workflow.buildEnded`.
   */
  adapters?: { builder?: Builder; deployer?: Deployer };
  log?: (line: string) => void;
  /** How the DynamoDB Local that local mode starts is restarted when it dies (docs/OPERATIONS.md). */
  dynamoDbRestarts?: DynamoDbLocalRestarts;
  /**
   * Told, in one line, that local mode cannot go on (DynamoDB Local keeps dying). By default the
   * line goes to `log` and the process exits 1, so a supervisor can start local mode again.
   */
  onFatal?: (line: string) => void;
  /** How often the sweep starts builds recorded but never started. @default 60 s */
  sweepIntervalMs?: number;
}

const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1']);

export interface LocalMode {
  url: string;
  adminToken: string;
  store: DynamoDbStore;
  workflow: LocalReleaseWorkflow;
  stop(): Promise<void>;
}

/**
 * Runs Slipway on this machine: DynamoDB Local persisted under the state dir, the AES-GCM
 * vault, and one HTTP server on loopback that serves the same Lambda handlers through an
 * API Gateway v2 adapter. The admin API wants the bearer token written to the state dir.
 */
export async function startLocalMode(options: LocalModeOptions = {}): Promise<LocalMode> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const state = options.stateDir ?? new StateDir();
  state.ensure();
  const host = options.host ?? '127.0.0.1';
  // Local mode holds the GitLab token and the admin token: nothing of it may listen beyond loopback.
  if (!LOOPBACK_ADDRESSES.has(host))
    throw new Error(`local mode listens on loopback only (127.0.0.1 or ::1), not ${host}`);

  const tableName = options.tableName ?? LOCAL_TABLE;
  // Set once the client exists: a restarted in-memory DynamoDB Local needs its table again.
  let afterRestart: () => Promise<void> = async () => undefined;
  // Set once the HTTP server listens: what to undo before exiting when DynamoDB Local is gone for good.
  let beforeExit: () => void = () => undefined;
  const fatal =
    options.onFatal ??
    ((line: string) => {
      log(line);
      beforeExit();
      process.exit(1);
    });
  // DynamoDB Local is supervised: restarted on its port with its data when it dies, and local
  // mode exits non-zero, saying why in one line, if it keeps dying.
  const dynamo = options.dynamoDbEndpoint
    ? { endpoint: options.dynamoDbEndpoint, stop: async () => undefined }
    : await superviseDynamoDbLocal({
        ...(options.inMemory ? {} : { dbPath: state.dynamoDbDir }),
        ...(options.dynamoDbRestarts ? { restarts: options.dynamoDbRestarts } : {}),
        log,
        onRestarted: () => afterRestart(),
        onGiveUp: (line) => fatal(line),
      });
  try {
    const raw = withTransientErrors(
      new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: 'local',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
    await ensureTable(raw, tableName);
    afterRestart = () => ensureTable(raw, tableName);
    const store = new DynamoDbStore({
      tableName,
      client: DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } }),
      // DynamoDB Local acknowledges a transaction before committing it: wait, so nothing answered is lost.
      awaitTransactionCommit: true,
    });
    await store.setSystemHookTokenHash(options.systemHookToken ? sha256Hex(options.systemHookToken) : undefined);

    const vault = LocalVault.open(state.vaultKeyFile);
    const logger = createLogger();
    // Builds run here with the same buildspec CodeBuild runs; their progress comes back as the
    // same build events the AWS build-events Lambda applies, and wakes the workflow waiting on them.
    const apply = async (event: BuildEvent): Promise<void> => {
      try {
        await applyBuildEvent(store, event);
      } catch (error) {
        logger.error('build event not applied', { error: error as Error, build: event.buildId });
      }
      // (Builds start only once the workflow below exists.) As the build-events function does
      // on AWS: the build's end completes the release workflow's wait on it.
      if (event.kind === 'finished') {
        await workflow.buildEnded(event.app, event.buildId).catch((error: unknown) => {
          logger.error('build end not told to its release', { error: error as Error, build: event.buildId });
        });
      }
    };
    // Rollouts run here with docker; the deployer reports each one's end as ECS's events do on
    // AWS, and the rollout-events logic (domain/waits.ts) completes the release's wait.
    const localDeployer = new LocalDeployer({
      onRolloutEvent: async (watch) => {
        await workflow.rolloutEvent(watch).catch((error: unknown) => {
          logger.error('rollout end not told to its release', { error: error as Error, deployment: watch });
        });
      },
      log: (message) => logger.warn(message),
      configDir: state.configDir,
    });
    const builder = new LocalBuilder({
      root: state.root,
      vaultKeyFile: state.vaultKeyFile,
      buildspecDir: join(findProjectRoot(), 'buildspecs'),
      onRunning: (buildId, app, phase) => apply({ app, buildId, kind: 'phase', phase, at: new Date().toISOString() }),
      onFinished: (buildId, app, outcome) =>
        apply({
          app,
          buildId,
          kind: 'finished',
          status: outcome.status,
          images: outcome.images,
          ...(outcome.reason ? { reason: outcome.reason } : {}),
          at: new Date().toISOString(),
        }),
      log: (message) => logger.warn(message),
    });
    const slackUrl = options.slackWebhookUrl;
    const notifier = slackUrl
      ? new SlackNotifier({ webhookUrl: async () => slackUrl, onOutcome: warnUndelivered(logger) })
      : new ConsoleNotifier(options.console ?? process.stdout);
    // The public URL is known once listening; commit statuses link to the build in the admin API.
    let publicUrl: string | undefined;
    const sessionKey = state.sessionKey();
    const buildLogs = new FileBuildLogs(state.buildsDir);
    // Local mode's platform: the same services as the Lambda functions get (functions/wiring/).
    const platform: Platform = {
      logger: () => logger,
      store: () => store,
      vault: () => vault,
      workflow: () => workflow,
      // The local executor's waits; the workflow hands its own to the steps it runs.
      tasks: () => ({ succeed: (token, output) => workflow.tasks.succeed(token, output) }),
      gitlab,
      sshKeys,
      // Local builds are already one process per app: no per-app cloud role to make.
      buildRights: () => localBuildRights,
      buildLogs: () => buildLogs,
      publicUrl: () => publicUrl,
      sessionKey: () => async () => sessionKey,
      deployer: () => options.adapters?.deployer ?? localDeployer,
      // `slipway doctor`: the workflow definition, the buildspec and docker, as local mode uses them.
      platformProbe: () => new LocalPlatformProbe({ root: findProjectRoot() }),
      slackConfigured: () => async () => slackUrl !== undefined,
      release: once(() => ({
        builder: options.adapters?.builder ?? builder,
        registry: new LocalRegistry(),
        deployer: options.adapters?.deployer ?? localDeployer,
        notifier,
        targetUrl: (build) =>
          publicUrl ? `${publicUrl}/v1/apps/${encodeURIComponent(build.app)}/builds/${build.id}` : undefined,
      })),
    };
    const services = createServices(platform);
    const workflow = new LocalReleaseWorkflow(services.releaseSteps(), {
      ...options.workflow,
      onEnded: (input, result) =>
        logger.info('release did not go live', {
          ...input,
          ...(result.status === 'FAILED' ? { error: result.cause } : {}),
        }),
    });
    const adminToken = state.adminToken();
    const adminTokenHash = sha256Hex(adminToken);
    const authorize = (req: IncomingMessage) => {
      const value = req.headers.authorization ?? '';
      return value.startsWith('Bearer ') && matchesHash(value.slice(7).trim(), adminTokenHash);
    };

    // The admin handler needs the public URL, which needs the port: bound once listening.
    let admin: HttpHandler = async () => json(503, { error: 'starting' });
    let consoleHandler: HttpHandler = async () => json(503, { error: 'starting' });
    const toConsole: HttpHandler = (event, context) => consoleHandler(event, context);
    const server: Server = createServer(
      apiGatewayListener(
        [
          {
            method: 'POST',
            path: '/hooks/gitlab/{hookId}',
            handler: createProjectWebhookHandler(services.webhook()),
            timeoutMs: FUNCTION_TIMEOUTS.webhook,
          },
          {
            method: 'POST',
            path: '/hooks/gitlab-system',
            handler: createSystemHookHandler(services.webhook()),
            timeoutMs: FUNCTION_TIMEOUTS.webhook,
          },
          // The console's three routes, as the HTTP API has them (infra/constructs/api.ts).
          ...['/console', '/console/{proxy+}', '/auth/{proxy+}'].map((path) => ({
            method: 'ANY',
            path,
            handler: toConsole,
            timeoutMs: FUNCTION_TIMEOUTS.admin,
          })),
          {
            method: 'ANY',
            path: '/v1/{proxy+}',
            handler: (event, context) => admin(event, context),
            authorize,
            timeoutMs: FUNCTION_TIMEOUTS.admin,
          },
        ],
        (error) => logger.error('local server error', { error: error as Error }),
      ),
    );
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8080, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    publicUrl = options.publicUrl ?? url;
    admin = createAdminHandler(services.admin());
    consoleHandler = createConsoleHandler(services.console());
    // Executions live in this process: what a previous run left in flight starts again.
    const resumed = await resumeInFlight(
      { store, workflow },
      { onError: (error, app) => logger.error('could not resume releases', { error: error as Error, app }) },
    );
    if (resumed.builds.length + resumed.releases.length > 0) {
      log(
        `slipway: resumed ${resumed.builds.length} build(s) and ${resumed.releases.length} rollback(s) left in flight`,
      );
    }
    // Every accepted build reaches a workflow: the sweep starts those recorded but never started
    // (all of them at start, whatever their age; then every minute those older than a minute).
    let sweeping: Promise<void> | undefined;
    const sweep = (olderThanMs: number): Promise<void> => {
      sweeping ??= sweepUnstartedBuilds(services.sweep(), { olderThanMs })
        .then(async (result) => {
          // A backstop for approvals whose timer was lost with a restart (domain/approvals.ts).
          const expired = await expireStaleApprovals(services.sweep());
          if (expired.length > 0) log(`slipway: ${expired.length} release(s) expired waiting for approval`);
          if (result.started.length > 0) {
            log(`slipway: started ${result.started.length} build(s) whose release workflow had not started`);
          }
          for (const failure of result.failed) {
            logger.error('release workflow not started by the sweep', {
              error: failure.error as Error,
              app: failure.app,
              build: failure.build,
            });
          }
        })
        .catch((error) => logger.error('sweep failed', { error: error as Error }))
        .finally(() => {
          sweeping = undefined;
        });
      return sweeping;
    };
    await sweep(0);
    const sweepTimer = setInterval(() => void sweep(SWEEP_MIN_AGE_MS), options.sweepIntervalMs ?? 60_000);
    sweepTimer.unref();
    writeFileSync(state.serverFile, JSON.stringify({ url, pid: process.pid }), { mode: 0o600 });
    beforeExit = () => rmSync(state.serverFile, { force: true });
    log(`slipway: local mode on ${url} (state in ${state.root}; hooks reach ${publicUrl})`);

    let stopped = false;
    return {
      url,
      adminToken,
      store,
      workflow,
      async stop() {
        if (stopped) return;
        stopped = true;
        clearInterval(sweepTimer);
        await sweeping;
        // Releases in flight get a moment to finish and report; local mode does not hang on them.
        await Promise.race([
          Promise.all([workflow.whenIdle(), builder.whenIdle(), localDeployer.whenIdle()]),
          new Promise((resolve) => setTimeout(resolve, 10_000).unref()),
        ]);
        workflow.abortAll();
        localDeployer.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        rmSync(state.serverFile, { force: true });
        raw.destroy();
        await dynamo.stop();
      },
    };
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
}
