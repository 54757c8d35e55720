import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LocalBuilder } from '../adapters/builder/local-builder';
import { startDynamoDbLocal } from '../adapters/dynamodb/local-server';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { ensureTable } from '../adapters/dynamodb/table';
import { FileBuildLogs } from '../adapters/logs/file-build-logs';
import { LocalRegistry } from '../adapters/registry/local-registry';
import { LocalVault } from '../adapters/vault/local-vault';
import { BuildOnlyWorkflow } from '../adapters/workflow/build-workflow';
import { gitlabDeps } from '../commons/gitlab-deps';
import { createLogger } from '../commons/logger';
import { findProjectRoot } from '../commons/project-root';
import { FUNCTION_TIMEOUTS } from '../commons/timeouts';
import { applyBuildEvent, type BuildEvent } from '../domain/build-events';
import { matchesHash, sha256Hex } from '../domain/ids';
import { createAdminHandler } from '../http/admin-api';
import type { HttpHandler } from '../http/middleware';
import { createProjectWebhookHandler } from '../http/project-webhook';
import { json } from '../http/responses';
import { createSystemHookHandler } from '../http/system-hook';
import { apiGatewayListener } from './http-adapter';
import { StateDir } from './state-dir';

export const LOCAL_TABLE = 'slipway';

export interface LocalModeOptions {
  port?: number;
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
  log?: (line: string) => void;
}

export interface LocalMode {
  url: string;
  adminToken: string;
  store: DynamoDbStore;
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

  const dynamo = options.dynamoDbEndpoint
    ? { endpoint: options.dynamoDbEndpoint, stop: async () => undefined }
    : await startDynamoDbLocal(options.inMemory ? {} : { dbPath: state.dynamoDbDir });
  try {
    const raw = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const tableName = options.tableName ?? LOCAL_TABLE;
    await ensureTable(raw, tableName);
    const store = new DynamoDbStore({
      tableName,
      client: DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } }),
    });
    await store.setSystemHookTokenHash(options.systemHookToken ? sha256Hex(options.systemHookToken) : undefined);

    const vault = LocalVault.open(state.vaultKeyFile);
    const logger = createLogger();
    // Builds run here with the same buildspec CodeBuild runs; their progress comes back as the
    // same build events the AWS build-events Lambda applies.
    const report = async (event: BuildEvent): Promise<void> => {
      try {
        await applyBuildEvent(store, event);
      } catch (error) {
        logger.error('build event not applied', { error: error as Error, build: event.buildId });
      }
    };
    const builder = new LocalBuilder({
      root: state.root,
      vaultKeyFile: state.vaultKeyFile,
      buildspecDir: join(findProjectRoot(), 'buildspecs'),
      onRunning: (buildId, app, phase) => report({ app, buildId, kind: 'phase', phase, at: new Date().toISOString() }),
      onFinished: (buildId, app, outcome) =>
        report({
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
    const workflow = new BuildOnlyWorkflow({ store, builder, registry: new LocalRegistry() }, (error, input) =>
      logger.error('build not started', { error: error as Error, ...input }),
    );
    const adminToken = state.adminToken();
    const adminTokenHash = sha256Hex(adminToken);
    const authorize = (req: IncomingMessage) => {
      const value = req.headers.authorization ?? '';
      return value.startsWith('Bearer ') && matchesHash(value.slice(7).trim(), adminTokenHash);
    };

    const deps = { store, vault, workflow, logger };
    // The admin handler needs the public URL, which needs the port: bound once listening.
    let admin: HttpHandler = async () => json(503, { error: 'starting' });
    const server: Server = createServer(
      apiGatewayListener(
        [
          {
            method: 'POST',
            path: '/hooks/gitlab/{hookId}',
            handler: createProjectWebhookHandler(deps),
            timeoutMs: FUNCTION_TIMEOUTS.webhook,
          },
          {
            method: 'POST',
            path: '/hooks/gitlab-system',
            handler: createSystemHookHandler(deps),
            timeoutMs: FUNCTION_TIMEOUTS.webhook,
          },
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
    const url = `http://${host}:${port}`;
    const publicUrl = options.publicUrl ?? url;
    admin = createAdminHandler({
      ...deps,
      ...gitlabDeps(),
      publicUrl,
      logs: new FileBuildLogs(state.buildsDir),
      warn: (message, detail) => logger.warn(message, { ...detail }),
    });
    writeFileSync(state.serverFile, JSON.stringify({ url, pid: process.pid }), { mode: 0o600 });
    log(`slipway: local mode on ${url} (state in ${state.root}; hooks reach ${publicUrl})`);

    let stopped = false;
    return {
      url,
      adminToken,
      store,
      async stop() {
        if (stopped) return;
        stopped = true;
        // Builds in flight get a moment to finish and report; local mode does not hang on them.
        await Promise.race([
          workflow.whenStarted().then(() => builder.whenIdle()),
          new Promise((resolve) => setTimeout(resolve, 10_000).unref()),
        ]);
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
