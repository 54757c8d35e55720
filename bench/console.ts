/**
 * Console benchmark (issue 9): the page weight of every console page as a browser first loads
 * it (HTML + the stylesheet + the script, gzip as the console sends it), against the contract's
 * 100 KB budget; and the time to render the app page of an app with 1,000 releases and 1,000
 * builds, next to a floor measured in the same run: the admin API's JSON list of the same 50
 * newest releases (`GET /v1/apps/web/releases`), the least a page showing them must do.
 *
 *   npm run bench:console               full run
 *   npm run console-weight              the weight budget only (CI): exit 1 over budget
 *
 * Local mode, DynamoDB Local and the project's GitLab stand-in (OIDC provider + members API)
 * all run on loopback; sign-in is the real code flow with PKCE. Results: docs/PERFORMANCE.md.
 */

import { request } from 'node:http';
import { Writable } from 'node:stream';
import { fmt, header, javaVersion, log, ratio, runBench, stats, table, timeOps, withDynamoDbLocal } from './support';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const WEIGHT_ONLY = process.argv.includes('--weight-only');
const BUDGET_BYTES = 100 * 1024;
const RELEASES = WEIGHT_ONLY ? 120 : 1000;
const ROUNDS = 40;

const { startLocalMode, LOCAL_TABLE } = await import('../functions/local/local-mode');
const { StateDir } = await import('../functions/local/state-dir');
const { startGitlabStandin } = await import('../test/support/gitlab-standin');
const { newId } = await import('../functions/domain/ids');

type Raw = { status: number; headers: Record<string, string | string[] | undefined>; bytes: number; body: Buffer };

/** One request, the body as sent on the wire (no decompression), so bytes are transfer size. */
function get(url: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'accept-encoding': 'gzip, deflate, br', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: body.length, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function cookiesOf(raw: Raw): string[] {
  const set = raw.headers['set-cookie'];
  return (Array.isArray(set) ? set : set ? [set] : []).map((c) => c.split(';', 1)[0] ?? '');
}

async function main(): Promise<number> {
  header('console', [`Java ${javaVersion()}`, `${RELEASES} releases`]);
  return withDynamoDbLocal(LOCAL_TABLE, async ({ endpoint, home }) => {
    const gitlab = await startGitlabStandin();
    const local = await startLocalMode({
      port: 0,
      dynamoDbEndpoint: endpoint,
      stateDir: new StateDir(home),
      log: () => undefined,
      console: new Writable({ write: (_c, _e, done) => done() }),
    });
    try {
      const admin = (method: string, path: string, body?: unknown) =>
        fetch(`${local.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${local.adminToken}`, 'content-type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {}),
        }).then(async (res) => {
          if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
          return res.json() as Promise<Record<string, unknown>>;
        });

      gitlab.addUser({ username: 'deployer', token: 'glpat-benchConsoleToken0000001', scopes: ['api'] });
      gitlab.addUser({ username: 'alice' });
      gitlab.addProject({ path: 'acme/web', id: 21, members: { deployer: 'owner', alice: 'maintainer' } });
      const oauth = gitlab.addOauthApplication({
        redirectUri: `${local.url}/auth/gitlab/callback`,
        scopes: ['openid', 'read_user'],
      });
      gitlab.autoApprove(true);
      gitlab.signInAs('alice');
      await admin('PUT', '/v1/gitlab', {
        url: gitlab.url,
        token: 'glpat-benchConsoleToken0000001',
        allowHttp: true,
        knownHosts:
          'gitlab.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      });
      await admin('PUT', '/v1/gitlab/oauth', { clientId: oauth.clientId, clientSecret: oauth.clientSecret });
      await admin('POST', '/v1/apps', { name: 'web', project: 'acme/web' });

      // A long history: builds and releases over the last 60 days, the newest live.
      const now = Date.now();
      for (let i = 0; i < RELEASES; i++) {
        const at = new Date(now - (RELEASES - i) * ((60 * 86_400_000) / RELEASES));
        const sha = i.toString(16).padStart(40, 'a');
        const buildId = newId(at);
        await local.store.recordBuild({
          id: buildId,
          app: 'web',
          status: i % 17 === 3 ? 'failed' : 'succeeded',
          commit: sha,
          ref: 'refs/heads/main',
          message: `Change number ${i}: a commit title of ordinary length`,
          author: 'Alice Example',
          trigger: 'push',
          createdAt: at.toISOString(),
          committedAt: new Date(at.getTime() - 600_000).toISOString(),
        });
        const id = newId(new Date(at.getTime() + 1000));
        const last = i === RELEASES - 1;
        await local.store.createRelease({
          id,
          app: 'web',
          status: last ? 'deploying' : i % 23 === 5 ? 'rolled_back' : 'replaced',
          build: buildId,
          commit: sha,
          images: { app: `sha256:${sha}${sha.slice(0, 24)}` },
          createdAt: new Date(at.getTime() + 1000).toISOString(),
          ...(last
            ? {}
            : {
                liveAt: new Date(at.getTime() + 60_000).toISOString(),
                endedAt: new Date(at.getTime() + 120_000).toISOString(),
              }),
        });
        if (last) await local.store.promoteRelease('web', id);
      }

      // Sign in: the real authorization code flow with PKCE through the stand-in.
      const login = await get(`${local.url}/auth/gitlab/login`);
      const signInCookie = cookiesOf(login).join('; ');
      const authorize = await get(String(login.headers.location));
      const callback = await get(String(authorize.headers.location), { cookie: signInCookie });
      const session = cookiesOf(callback).find((c) => c.startsWith('slipway_session='));
      if (callback.status !== 303 || !session) throw new Error(`sign-in failed: ${callback.status}`);

      // Weight: each page and the assets it loads, as transferred.
      const pages: Array<[string, string, string | undefined]> = [
        ['sign-in (signed out)', '/console', undefined],
        ['apps', '/console', session],
        [`app page (${RELEASES} releases)`, '/console/apps/web', session],
      ];
      const builds = (await admin('GET', '/v1/apps/web/builds?limit=1')) as unknown as Array<{ id: string }>;
      pages.push(['build page', `/console/apps/web/builds/${builds[0]?.id}`, session]);
      const rows: string[][] = [['page', 'HTML', 'CSS', 'JS', 'first load', 'budget']];
      let over = false;
      for (const [name, path, cookie] of pages) {
        const html = await get(`${local.url}${path}`, cookie ? { cookie } : {});
        if (html.status !== 200) throw new Error(`${path}: ${html.status}`);
        const text =
          html.headers['content-encoding'] === 'gzip'
            ? (await import('node:zlib')).gunzipSync(html.body).toString()
            : html.body.toString();
        const assets = [...text.matchAll(/(?:href|src)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1] ?? '');
        const sizes = await Promise.all(assets.map(async (a) => (await get(`${local.url}${a}`)).bytes));
        const css = sizes[assets.findIndex((a) => a.endsWith('.css'))] ?? 0;
        const js = sizes[assets.findIndex((a) => a.endsWith('.js'))] ?? 0;
        const total = html.bytes + css + js;
        over ||= total > BUDGET_BYTES;
        rows.push([
          name,
          kb(html.bytes),
          kb(css),
          kb(js),
          kb(total),
          total <= BUDGET_BYTES ? `ok (≤ ${kb(BUDGET_BYTES)})` : 'OVER',
        ]);
      }
      log('Page weight (gzip, as transferred; first load = HTML + stylesheet + script)');
      log(table(rows));
      if (WEIGHT_ONLY) return over ? 1 : 0;

      // Render time: the app page (rights cached, as on every poll within 60 s) against the floor.
      const page = () => get(`${local.url}/console/apps/web`, { cookie: session }).then((r) => void r);
      const floor = () =>
        fetch(`${local.url}/v1/apps/web/releases?limit=50`, {
          headers: { authorization: `Bearer ${local.adminToken}` },
        }).then((r) => r.arrayBuffer().then(() => undefined));
      await timeOps(10, page);
      await timeOps(10, floor);
      const pageStats = stats((await timeOps(ROUNDS, page)).ms);
      const floorStats = stats((await timeOps(ROUNDS, floor)).ms);
      log();
      log(`App page render, ${RELEASES} releases (${ROUNDS} requests each, one at a time)`);
      log(
        table([
          ['measure', 'p50 ms', 'p99 ms', 'p50 vs floor'],
          [
            'app page (HTML, 50+50 rows, 30-day metrics)',
            fmt(pageStats.p50),
            fmt(pageStats.p99),
            ratio(pageStats.p50, floorStats.p50),
          ],
          ['floor: GET /v1/apps/web/releases?limit=50', fmt(floorStats.p50), fmt(floorStats.p99), '1.00×'],
        ]),
      );
      return over ? 1 : 0;
    } finally {
      await local.stop();
      await gitlab.stop();
    }
  });
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

runBench('bench:console', 10 * 60_000, main);
