import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Build } from '../../functions/domain/model';
import type { LocalModeOptions } from '../../functions/local/local-mode';
import { gitlabExample } from './gitlab-events';
import { type GitlabStandin, startGitlabStandin } from './gitlab-standin';
import { cli, ROOT, startTestLocalMode } from './local';
import { type Sshd, startSshd } from './sshd';
import { until } from './until';

export const FAKE_DOCKER_DIR = join(ROOT, 'test/support/fake-docker');

/** A Slack incoming-webhook stand-in: records each JSON body; can be told to fail. */
export interface SlackReceiver {
  url: string;
  messages: Array<{ text?: string; blocks?: unknown[] }>;
  /** Status to answer with (200 by default). */
  status: number;
  stop(): Promise<void>;
}

export async function startSlackReceiver(): Promise<SlackReceiver> {
  const receiver = { messages: [], status: 200 } as unknown as SlackReceiver;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      if (receiver.status === 200) receiver.messages.push(JSON.parse(body));
      res.writeHead(receiver.status, { 'content-type': 'text/plain' });
      res.end(receiver.status === 200 ? 'ok' : 'no_service');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T0/B0/test`;
  receiver.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}

export interface LinkedAppWorld {
  gitlab: GitlabStandin;
  sshd: Sshd;
  local: Awaited<ReturnType<typeof startTestLocalMode>>;
  slack: SlackReceiver;
  /** Env for the CLI (`SLIPWAY_HOME`). */
  env: Record<string, string>;
  projectId: number;
  /** The fake docker's call log (JSON lines). */
  dockerLog: string;
  /** The docker calls recorded so far whose first argument is `command` (each call's argv). */
  dockerCalls(command: string): string[][];
  /** Runs the CLI with `--json`; throws on a non-zero exit. */
  slipway(...args: string[]): Promise<unknown>;
  /** Creates and links an app on the project. */
  linkApp(name: string, options?: string[]): Promise<void>;
  /**
   * Commits to `main` (or to `branch`, made from main's tip if new) in the served repository (a
   * compose file unless `files` say otherwise); returns the sha.
   */
  commit(title: string, files?: Record<string, string>, branch?: string): string;
  /** Delivers GitLab's example push for `sha` to the app's hook, as GitLab would. */
  push(app: string, sha: string, deliveryKey: string): Promise<Response>;
  /**
   * Commits `title` to main, pushes it to the app's hook (202 expected) and waits for its release
   * workflow to end; returns the build as `builds show` gives it.
   */
  pushAndRelease(app: string, title: string, deliveryKey: string): Promise<Build>;
  stop(): Promise<void>;
}

/**
 * The world of a linked app in local mode, built as a user would: a git server (real sshd), the
 * GitLab stand-in, a Slack receiver, local mode in-process with the recording fake docker on
 * PATH, `gitlab connect`, `apps create`, `apps link` through the real CLI.
 */
export async function startLinkedAppWorld(
  options: { projectId?: number; local?: Partial<LocalModeOptions>; dockerEnv?: Record<string, string> } = {},
): Promise<LinkedAppWorld> {
  const token = 'glpat-linkedAppWorldToken00000001';
  const projectId = options.projectId ?? 15;
  const dockerLog = join(mkdtempSync(join(tmpdir(), 'slipway-docker-')), 'calls.jsonl');
  const saved = {
    PATH: process.env.PATH,
    FAKE_DOCKER_LOG: process.env.FAKE_DOCKER_LOG,
    SLIPWAY_BUILD_PASS_ENV: process.env.SLIPWAY_BUILD_PASS_ENV,
  };
  process.env.PATH = `${FAKE_DOCKER_DIR}:${saved.PATH}`;
  process.env.FAKE_DOCKER_LOG = dockerLog;
  process.env.SLIPWAY_BUILD_PASS_ENV = 'FAKE_DOCKER_LOG';
  for (const [key, value] of Object.entries(options.dockerEnv ?? {})) process.env[key] = value;

  const sshd = await startSshd({ authorizedKeys: [] });
  const gitlab = await startGitlabStandin();
  const slack = await startSlackReceiver();
  gitlab.addUser({ username: 'deployer', token, scopes: ['api'] });
  gitlab.addProject({ path: 'mike/diaspora', id: projectId, sshUrl: sshd.gitUrl });
  const local = await startTestLocalMode({
    slackWebhookUrl: slack.url,
    workflow: { retryMs: 50 },
    ...options.local,
  });
  const env = { SLIPWAY_HOME: local.home };
  const slipway = async (...args: string[]) => {
    const out = await cli([...args, '--json'], env);
    if (out.code !== 0) throw new Error(`slipway ${args.join(' ')} exited ${out.code}: ${out.stderr}`);
    return JSON.parse(out.stdout) as unknown;
  };
  const knownHosts = join(local.home, 'known_hosts');
  writeFileSync(knownHosts, `${sshd.hostKeyLine}\n`);
  await slipway(
    'gitlab',
    'connect',
    '--url',
    gitlab.url,
    '--token',
    token,
    '--allow-http',
    '--known-hosts',
    knownHosts,
  );

  const work = mkdtempSync(join(tmpdir(), 'slipway-work-'));
  const git = (...args: string[]) => execFileSync('git', args, { cwd: work, encoding: 'utf8' }).trim();
  git('clone', '-q', sshd.repoPath, '.');
  git('config', 'user.email', 'dev@example.com');
  git('config', 'user.name', 'Dev');

  const titles = new Map<string, string>();
  const hookUrls = new Map<string, string>();
  const world: LinkedAppWorld = {
    gitlab,
    sshd,
    local,
    slack,
    env,
    projectId,
    dockerLog,
    dockerCalls(command) {
      return readFileSync(dockerLog, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { argv: string[] }).argv)
        .filter((argv) => argv[0] === command);
    },
    slipway,
    async pushAndRelease(app, title, deliveryKey) {
      const res = await world.push(app, world.commit(title), deliveryKey);
      if (res.status !== 202) throw new Error(`push of ${title} answered ${res.status}`);
      const { build } = (await res.json()) as { build: string };
      await until(`build ${build} released`, async () => (await local.store.getBuild(app, build))?.outcome);
      return (await slipway('builds', 'show', app, build)) as Build;
    },
    async linkApp(name, extra = []) {
      await slipway('apps', 'create', name, '--project', 'mike/diaspora', '--branch', 'main', ...extra);
      await slipway('apps', 'link', name);
      hookUrls.set(name, ((await slipway('apps', 'show', name)) as { hookUrl: string }).hookUrl);
      // The deploy key GitLab now holds opens the git server too (what GitLab does with it).
      const key = gitlab.deployKeys(projectId).at(-1);
      appendFileSync(
        join(dirname(sshd.repoPath), 'authorized_keys'),
        `restrict,command="git-upload-pack '${sshd.repoPath}'" ${String(key?.key)}\n`,
      );
    },
    commit(title, files, branch) {
      const back = git('symbolic-ref', '--short', 'HEAD');
      if (branch !== undefined) {
        let exists = true;
        try {
          git('rev-parse', '--verify', '--quiet', `refs/heads/${branch}`);
        } catch {
          exists = false;
        }
        git('checkout', '-q', ...(exists ? [branch] : ['-b', branch]));
      }
      const content = files ?? {
        'api/Dockerfile': `FROM scratch\n# ${title}\n`,
        'docker-compose.yml': 'services:\n  api:\n    build: ./api\n',
      };
      for (const [path, text] of Object.entries(content)) {
        mkdirSync(dirname(join(work, path)), { recursive: true });
        writeFileSync(join(work, path), text);
      }
      git('add', '.');
      git('commit', '-q', '--allow-empty', '-m', title);
      git('push', '-q', 'origin', `HEAD:${branch ?? 'main'}`);
      const sha = git('rev-parse', 'HEAD');
      if (branch !== undefined) git('checkout', '-q', back);
      titles.set(sha, title);
      gitlab.addCommit(projectId, {
        sha,
        title,
        authorName: 'Dev',
        authorEmail: 'dev@example.com',
        branches: [branch ?? 'main'],
      });
      return sha;
    },
    async push(app, sha, deliveryKey) {
      const mine = hookUrls.get(app) ?? ((await slipway('apps', 'show', app)) as { hookUrl: string }).hookUrl;
      hookUrls.set(app, mine);
      const target = gitlab.hooks(projectId).find((h) => h.url === mine);
      if (!target) throw new Error(`no GitLab hook for app ${app}`);
      const example = gitlabExample('push.json');
      const body = JSON.stringify({
        ...example.body,
        ref: 'refs/heads/main',
        before: `${'0'.repeat(39)}1`,
        after: sha,
        checkout_sha: sha,
        commits: [
          {
            ...((example.body.commits as object[])?.[0] ?? {}),
            id: sha,
            message: `${titles.get(sha) ?? deliveryKey}\n`,
            title: titles.get(sha) ?? deliveryKey,
            timestamp: new Date().toISOString(),
            author: { name: 'Dev', email: 'dev@example.com' },
          },
        ],
        total_commits_count: 1,
        project: {
          ...(example.body.project as object),
          id: projectId,
          path_with_namespace: 'mike/diaspora',
          git_ssh_url: sshd.gitUrl,
        },
      });
      return fetch(String(target.url), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'X-Gitlab-Event': 'Push Hook',
          'X-Gitlab-Token': String(target.token),
          'Idempotency-Key': deliveryKey,
        },
        body,
      });
    },
    async stop() {
      await local.stop();
      await gitlab.stop();
      await slack.stop();
      await sshd.stop();
      process.env.PATH = saved.PATH;
      for (const key of ['FAKE_DOCKER_LOG', 'SLIPWAY_BUILD_PASS_ENV'] as const) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
      for (const key of Object.keys(options.dockerEnv ?? {})) delete process.env[key];
    },
  };
  return world;
}
