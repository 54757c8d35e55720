import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Release } from '../../functions/domain/model';
import { launchChromium, screenshot } from '../support/browser';
import { type LinkedAppWorld, startLinkedAppWorld } from '../support/linked-app';
import { cli } from '../support/local';
import { until } from '../support/until';

/**
 * The console in a real Chromium against local mode and the GitLab stand-in as OpenID Connect
 * provider: sign in with GitLab (consent page, PKCE, id_token), rights from GitLab's members
 * API (Maintainer deploys and rolls back, Reporter sees, others get 404), a build log followed
 * while it runs, sign-out, and the pages for a denied, tampered, expired or failed sign-in.
 */

describe('the console in a real browser', () => {
  let world: LinkedAppWorld;
  let browser: Browser;
  let base: string;
  let webSha: string;
  let clientSecret: string;
  const logs: string[] = [];
  const writeStdout = process.stdout.write.bind(process.stdout);

  const previousLevel = process.env.POWERTOOLS_LOG_LEVEL;

  beforeAll(async () => {
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    // Local mode's JSON logs go to stdout: kept to prove no secret reaches them.
    process.stdout.write = ((chunk: string | Uint8Array) => {
      logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      // Kept, not echoed: the suite's output stays readable.
      return true;
    }) as typeof process.stdout.write;
    world = await startLinkedAppWorld({ projectId: 15 });
    base = world.local.url;
    await world.linkApp('web');
    // A second project Alice only reports on, and a third nobody here belongs to.
    world.gitlab.addProject({
      path: 'acme/api',
      id: 16,
      sshUrl: world.sshd.gitUrl,
      members: { deployer: 'maintainer', alice: 'reporter' },
    });
    world.gitlab.addProject({ path: 'acme/secret', id: 17, sshUrl: world.sshd.gitUrl, members: { deployer: 'owner' } });
    await world.slipway('apps', 'create', 'api', '--project', 'acme/api');
    await world.slipway('apps', 'create', 'secret', '--project', 'acme/secret');
    for (const username of ['alice', 'bob', 'carol']) world.gitlab.addUser({ username });
    world.gitlab.setMember(15, 'alice', 'maintainer');
    world.gitlab.setMember(15, 'bob', 'reporter');
    world.gitlab.setMember(15, 'carol', 'guest');

    const app = world.gitlab.addOauthApplication({
      redirectUri: `${base}/auth/gitlab/callback`,
      scopes: ['openid', 'read_user'],
    });
    clientSecret = app.clientSecret;
    const set = await cli(
      ['gitlab', 'oauth', '--client-id', app.clientId, '--client-secret', '-'],
      world.env,
      `${app.clientSecret}\n`,
    );
    expect(set).toMatchObject({ code: 0 });
    expect(set.stdout).toContain(`${base}/auth/gitlab/callback`);
    expect(set.stdout).not.toContain(app.clientSecret);

    // Something live already: one push through the whole pipeline.
    webSha = world.commit('First release of web');
    expect((await world.push('web', webSha, 'console-first')).status).toBe(202);
    await until('the first release', async () =>
      ((await world.slipway('releases', 'web')) as Release[]).find((r) => r.status === 'live'),
    );

    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    process.stdout.write = writeStdout;
    process.env.POWERTOOLS_LOG_LEVEL = previousLevel;
    await browser?.close();
    await world?.stop();
  });

  async function signIn(
    username: string,
    options: { approve?: boolean } = {},
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    world.gitlab.signInAs(username);
    await page.goto(`${base}/console`);
    await page.getByRole('link', { name: 'Sign in with GitLab' }).click();
    await page.getByRole('button', { name: options.approve === false ? 'Deny' : 'Authorize' }).click();
    return { context, page };
  }

  it('shows the sign-in page, then the apps a Maintainer may see after signing in with GitLab', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${base}/console`);
    await screenshot(page, '01-sign-in');
    world.gitlab.signInAs('alice');
    await page.getByRole('link', { name: 'Sign in with GitLab' }).click();
    await screenshot(page, '02-gitlab-consent');
    await page.getByRole('button', { name: 'Authorize' }).click();

    await page.waitForURL(`${base}/console`);
    await expect(page.getByRole('link', { name: 'web', exact: true }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('link', { name: 'api', exact: true }).isVisible()).resolves.toBe(true);
    expect(await page.getByRole('link', { name: 'secret', exact: true }).count()).toBe(0);
    const webRow = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'web', exact: true }) });
    await expect(webRow.textContent()).resolves.toContain(webSha.slice(0, 8));
    await expect(webRow.textContent()).resolves.toContain('succeeded');
    await screenshot(page, '03-apps');

    // The session cookie: HttpOnly, SameSite=Lax, no GitLab token anywhere in it or the page.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'slipway_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
    expect(session?.expires).toBeLessThanOrEqual(Date.now() / 1000 + 8 * 3600 + 5);
    const tokens = world.gitlab.requests.filter((r) => r.path === '/oauth/token');
    expect(tokens.length).toBeGreaterThan(0);
    await context.close();
  }, 60_000);

  it('follows a running build log, deploys a ref and rolls back as a Maintainer', async () => {
    const { context, page } = await signIn('alice');
    await page.waitForURL(`${base}/console`);
    await page.getByRole('link', { name: 'web', exact: true }).click();
    await page.waitForURL(`${base}/console/apps/web`);
    await expect(page.getByRole('table', { name: 'Releases' }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('table', { name: 'Builds' }).isVisible()).resolves.toBe(true);

    // A push while the page is open: the Builds table shows it without a reload.
    const second = world.commit('Second release of web');
    expect((await world.push('web', second, 'console-second')).status).toBe(202);
    const buildsTable = page.getByRole('table', { name: 'Builds' });
    await buildsTable.getByText(second.slice(0, 8)).waitFor({ timeout: 5_000 });

    // Deploy through the dialog.
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.getByRole('dialog').getByLabel('Ref').fill('main');
    await screenshot(page, '05-deploy-dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/\/console\/apps\/web\/builds\/[0-9A-Za-z]+$/);
    // The build page follows the log until the build ends.
    await page.locator('#build-status').filter({ hasText: 'succeeded' }).waitFor({ timeout: 60_000 });
    await expect(page.getByLabel('Build log').textContent()).resolves.toMatch(/\S/);
    await screenshot(page, '06-build');

    const deployBuild = page.url().split('/').at(-1) ?? '';
    await until('the deploy live', async () => (await world.local.store.getBuild('web', deployBuild))?.outcome);
    await page.goto(`${base}/console/apps/web`);
    const releases = (await world.slipway('releases', 'web')) as Release[];
    const first = releases.at(-1) as Release;
    await page.reload();
    await screenshot(page, '07-app');

    // Roll back to the first release through the confirmation dialog.
    const row = page.getByRole('table', { name: 'Releases' }).getByRole('row').filter({ hasText: first.id });
    await row.getByRole('button', { name: 'Roll back' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(`${base}/console/apps/web`);
    const rolledBack = await until('the rollback live', async () => {
      const now = (await world.slipway('releases', 'web')) as Release[];
      return now[0]?.rollbackOf === first.id && now[0].status === 'live' ? now[0] : undefined;
    });
    expect(rolledBack.commit).toBe(first.commit);
    // The page shows it within 5 s without a reload.
    await page
      .getByRole('table', { name: 'Releases' })
      .getByRole('row')
      .filter({ hasText: rolledBack.id })
      .filter({ hasText: 'live' })
      .waitFor({ timeout: 5_000 });
    await screenshot(page, '08-app-after-rollback');

    const metrics = await page.locator('#metrics').textContent();
    expect(metrics).toContain('Deployment frequency');
    expect(metrics).toContain('Change failure rate');
    await context.close();
  }, 240_000);

  it('approves and rejects a release waiting for approval, as a Maintainer', async () => {
    await world.slipway('envs', 'create', 'web', 'customers', '--approval', 'maintainer');
    const promote = async () => {
      const waiting = (await world.slipway(
        'promote',
        'web',
        '--from',
        'production',
        '--to',
        'customers',
        '--wait',
      )) as Release;
      expect(waiting.status).toBe('awaiting_approval');
      return waiting;
    };
    const first = await promote();
    const { context, page } = await signIn('alice');
    await page.goto(`${base}/console/apps/web`);
    const row = (id: string) => page.getByRole('table', { name: 'Releases' }).getByRole('row').filter({ hasText: id });
    await row(first.id).getByText('awaiting_approval').waitFor({ timeout: 5_000 });
    await screenshot(page, '14-app-awaiting-approval');

    // Reject, saying why: it ends rejected, nothing goes live in customers.
    await row(first.id).getByRole('button', { name: 'Reject' }).click();
    await page.getByRole('dialog').getByLabel('Reason (optional)').fill('wait for the launch');
    await screenshot(page, '15-reject-dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Reject release' }).click();
    await page.waitForURL(`${base}/console/apps/web`);
    await row(first.id).getByText('rejected').waitFor({ timeout: 5_000 });
    expect(await world.local.store.getRelease('web', first.id)).toMatchObject({
      status: 'rejected',
      rejectedBy: 'alice',
      reason: 'rejected by alice: wait for the launch',
    });

    // Approve the next one: it rolls out and goes live.
    const second = await promote();
    await page.reload();
    await row(second.id).getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Approve release' }).click();
    await page.waitForURL(`${base}/console/apps/web`);
    await until('the approved release live', async () =>
      (await world.local.store.getRelease('web', second.id))?.status === 'live' ? true : undefined,
    );
    await row(second.id).getByText('live').first().waitFor({ timeout: 5_000 });
    expect((await world.local.store.getRelease('web', second.id))?.approvedBy).toBe('alice');
    // Each environment with how it is released to, its approval rule and its live release.
    const customers = page
      .getByRole('table', { name: 'Environments' })
      .getByRole('row')
      .filter({ hasText: 'customers' });
    await customers.filter({ hasText: second.id }).waitFor({ timeout: 5_000 });
    await expect(customers.textContent()).resolves.toMatch(/promotion.*a Maintainer/s);
    await screenshot(page, '16-app-after-approval');
    await context.close();
  }, 120_000);

  it('lets a Reporter see but not deploy, and refuses a forged deploy', async () => {
    const { context, page } = await signIn('bob');
    await page.waitForURL(`${base}/console`);
    await page.getByRole('link', { name: 'web', exact: true }).click();
    await page.getByRole('table', { name: 'Releases' }).waitFor();
    expect(await page.getByRole('button', { name: 'Deploy' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Roll back' }).count()).toBe(0);
    await screenshot(page, '09-app-as-reporter');

    // A deploy POST built by hand, with Bob's session and his own CSRF token: refused by the server.
    const csrf = await page.locator('input[name=csrf]').first().getAttribute('value');
    const forged = await page.request.post(`${base}/console/apps/web/deploy`, {
      form: { csrf: csrf ?? '', ref: 'main' },
      headers: { origin: base },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    // Without the CSRF token, even a Maintainer's request would be refused; here it is too.
    const noToken = await page.request.post(`${base}/console/apps/web/deploy`, {
      form: { ref: 'main' },
      maxRedirects: 0,
    });
    expect(noToken.status()).toBe(403);

    // An app of a project Bob is no member of does not exist for him.
    const hidden = await page.goto(`${base}/console/apps/secret`);
    expect(hidden?.status()).toBe(404);
    const unknown = await page.goto(`${base}/console/apps/no-such-app`);
    expect(unknown?.status()).toBe(404);
    // The same answer as for an app that does not exist: names do not leak.
    const secretPage = await (await page.request.get(`${base}/console/apps/secret`)).text();
    const missingPage = await (await page.request.get(`${base}/console/apps/nothere`)).text();
    expect(secretPage.replace('secret', 'X')).toBe(missingPage.replace('nothere', 'X'));
    await page.goto(`${base}/console/apps/secret`);
    await screenshot(page, '10-not-found');

    // Sign out: the sign-in link again, and the app page is out of reach.
    await page.goto(`${base}/console`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in with GitLab' }).waitFor();
    const after = await page.request.get(`${base}/console/apps/web`, { maxRedirects: 0 });
    expect(after.status()).toBe(303);
    await context.close();
  }, 60_000);

  it('shows a Guest nothing: below Reporter an app is a 404', async () => {
    const { context, page } = await signIn('carol');
    await page.waitForURL(`${base}/console`);
    expect(await page.getByRole('link', { name: 'web', exact: true }).count()).toBe(0);
    const res = await page.goto(`${base}/console/apps/web`);
    expect(res?.status()).toBe(404);
    await context.close();
  }, 60_000);

  it('says why when a sign-in is denied, tampered with, expired, or GitLab is unreachable', async () => {
    // Denied consent.
    const denied = await signIn('alice', { approve: false });
    await denied.page.getByRole('heading', { name: 'Sign-in cancelled' }).waitFor();
    await expect(denied.page.getByRole('link', { name: 'Try again' }).isVisible()).resolves.toBe(true);
    await screenshot(denied.page, '11-sign-in-denied');
    await denied.context.close();

    // The rest stop at GitLab's redirect back (a browser cannot be stopped mid-redirect): the
    // consent is posted by hand, and the callback URL GitLab answers is then opened, changed or not.
    const context = await browser.newContext();
    const page = await context.newPage();
    world.gitlab.signInAs('alice');
    const consentRedirect = async (): Promise<string> => {
      await page.goto(`${base}/auth/gitlab/login`);
      const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Authorize' }) });
      const action = new URL((await form.getAttribute('action')) ?? '', page.url()).href;
      const fields: Record<string, string> = {};
      for (const input of await form.locator('input[type=hidden]').all()) {
        fields[(await input.getAttribute('name')) ?? ''] = (await input.getAttribute('value')) ?? '';
      }
      const res = await page.request.post(action, { form: fields, maxRedirects: 0 });
      expect(res.status()).toBe(302);
      return res.headers().location ?? '';
    };

    // Tampered state.
    const tampered = new URL(await consentRedirect());
    tampered.searchParams.set('state', 'forged-state');
    expect((await page.goto(tampered.href))?.status()).toBe(400);
    await page.getByRole('heading', { name: 'Sign-in refused' }).waitFor();
    await screenshot(page, '12-sign-in-tampered');

    // An expired code.
    const late = await consentRedirect();
    world.gitlab.expireAuthorizationCodes();
    expect((await page.goto(late))?.status()).toBe(400);
    await page.getByRole('heading', { name: 'Sign-in code not valid' }).waitFor();

    // A replayed callback: the first use signs in; the same URL again is refused.
    const once = await consentRedirect();
    await page.goto(once);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect((await page.goto(once))?.status()).toBe(400);
    await page.getByRole('heading', { name: 'Sign-in expired' }).waitFor();
    await context.clearCookies();

    // GitLab unreachable while the code is swapped.
    const unreachable = await consentRedirect();
    world.gitlab.setDown(true);
    try {
      expect((await page.goto(unreachable))?.status()).toBe(502);
      await page.getByRole('heading', { name: 'GitLab could not be reached' }).waitFor();
    } finally {
      world.gitlab.setDown(false);
    }
    await screenshot(page, '13-gitlab-unreachable');
    await context.close();
  }, 90_000);

  it('keeps nothing secret in DynamoDB, the state dir, logs, pages or cookies', async () => {
    const { context, page } = await signIn('alice');
    await page.waitForURL(`${base}/console`);
    const pages = [await page.content()];
    await page.goto(`${base}/console/apps/web`);
    pages.push(await page.content());
    const cookies = await context.cookies();
    await context.close();

    const codes = world.gitlab.requests
      .filter((r) => r.path === '/oauth/token')
      .map((r) =>
        typeof r.body === 'string'
          ? (new URLSearchParams(r.body).get('code') ?? '')
          : String((r.body as Record<string, unknown> | undefined)?.code ?? ''),
      )
      .filter((code) => code.length >= 16);
    const accessTokens = world.gitlab.requests
      .filter((r) => r.path === '/oauth/userinfo')
      .map((r) => String(r.headers.authorization ?? '').replace(/^Bearer\s+/i, ''))
      .filter((token) => token.length >= 16);
    const sessionKey = readFileSync(join(world.local.home, 'session.key'), 'utf8').trim();
    expect(codes.length).toBeGreaterThan(0);
    expect(accessTokens.length).toBeGreaterThan(0);
    const secrets = [clientSecret, sessionKey, ...codes, ...accessTokens];

    const items = await new DynamoDBClient({
      endpoint: world.local.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }).send(new ScanCommand({ TableName: world.local.tableName }));
    const stored = JSON.stringify(items.Items);
    expect(stored).toContain('clientSecretCiphertext');
    const stateFiles = readdirSync(world.local.home, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name !== 'session.key')
      .map((entry) => readFileSync(join(entry.parentPath, entry.name)).toString('latin1'))
      .join('\n');
    const logText = logs.join('');
    expect(logText).toMatch(/console sign-in/);
    const cookieText = cookies.map((c) => `${c.name}=${c.value}`).join('\n');
    for (const secret of secrets) {
      for (const [where, text] of Object.entries({ stored, stateFiles, logText, pages: pages.join(''), cookieText })) {
        expect({ where, found: text.includes(secret) }).toEqual({ where, found: false });
      }
    }
    // The session cookie is sealed (a JWE), not a readable record of who signed in.
    const session = cookies.find((c) => c.name === 'slipway_session');
    expect(session?.value.split('.')).toHaveLength(5);
    expect(Buffer.from(session?.value ?? '', 'base64url').toString('latin1')).not.toContain('alice');
  }, 60_000);
});
