import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { gitlabExample } from '../support/gitlab-events';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';
import { type CliResult, cli, startTestLocalMode } from '../support/local';

/**
 * Connect → create → link → push → relink → unlink, end to end: local mode on real HTTP, the
 * real CLI, real gitbeaker calls to a GitLab stand-in on loopback, real DynamoDB Local.
 */
describe('local mode: connecting GitLab and linking apps', () => {
  const TOKEN = 'glpat-e2eTokenThatMustNeverLeak01';
  let gitlab: GitlabStandin;
  let local: Awaited<ReturnType<typeof startTestLocalMode>>;
  let env: Record<string, string>;
  let knownHostsFile: string;
  const outputs: CliResult[] = [];
  const logs: string[] = [];
  const secretsSeen = new Set<string>([TOKEN]);
  const writeStdout = process.stdout.write.bind(process.stdout);
  const previousLevel = process.env.POWERTOOLS_LOG_LEVEL;

  const run = async (...args: string[]) => {
    const out = await cli(args, env);
    outputs.push(out);
    return out;
  };
  const slipway = async (...args: string[]) => {
    const out = await run(...args, '--json');
    if (out.code !== 0) throw new Error(`slipway ${args.join(' ')} exited ${out.code}: ${out.stderr}`);
    return JSON.parse(out.stdout);
  };
  const project = () => gitlab.hooks(15);
  const deliverPush = (url: string, token: string, key: string) =>
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'X-Gitlab-Event': 'Push Hook',
        'X-Gitlab-Token': token,
        'Idempotency-Key': key,
      },
      // Each delivery is its own push (one push is one build however often it is sent).
      body: JSON.stringify({ ...gitlabExample('push.json').body, after: shaOf(key), checkout_sha: shaOf(key) }),
    });
  const shaOf = (key: string) => createHash('sha1').update(key).digest('hex');

  beforeAll(async () => {
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      logs.push(String(chunk));
      return writeStdout(chunk, ...rest);
    }) as typeof process.stdout.write;
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'deployer', token: TOKEN, scopes: ['api'], expiresAt: '2027-06-30' });
    gitlab.addUser({ username: 'reader', token: 'glpat-readOnlyToken000000001', scopes: ['read_user'] });
    gitlab.addProject({ path: 'mike/diaspora', id: 15 });
    local = await startTestLocalMode();
    env = { SLIPWAY_HOME: local.home };
    knownHostsFile = join(local.home, 'gitlab_known_hosts');
    const hostKey = generateDeployKey('host').publicKey.split(' ').slice(0, 2).join(' ');
    await writeFile(knownHostsFile, `127.0.0.1 ${hostKey}\n`);
  }, 60_000);

  afterAll(async () => {
    process.stdout.write = writeStdout;
    process.env.POWERTOOLS_LOG_LEVEL = previousLevel;
    await local?.stop();
    await gitlab?.stop();
  });

  it('refuses a plain-http GitLab unless allowed, and a token without the api scope', async () => {
    const http = await run('gitlab', 'connect', '--url', gitlab.url, '--token', TOKEN, '--known-hosts', knownHostsFile);
    expect(http.code).toBe(1);
    expect(http.stderr).toMatch(/must use https/);

    const scope = await run(
      'gitlab',
      'connect',
      '--url',
      gitlab.url,
      '--token',
      'glpat-readOnlyToken000000001',
      '--allow-http',
      '--known-hosts',
      knownHostsFile,
    );
    expect(scope.code).toBe(1);
    expect(scope.stderr).toMatch(/scope/);
  });

  it('connects: checks the token with GitLab and shows who, where and until when', async () => {
    const connected = await slipway(
      'gitlab',
      'connect',
      '--url',
      gitlab.url,
      '--token',
      TOKEN,
      '--allow-http',
      '--known-hosts',
      knownHostsFile,
    );
    const shown = await slipway('gitlab', 'show');

    expect(connected).toMatchObject({ url: gitlab.url, username: 'deployer', tokenExpiresAt: '2027-06-30' });
    expect(shown).toMatchObject({
      url: gitlab.url,
      username: 'deployer',
      tokenExpiresAt: '2027-06-30',
      hostKeys: [{ hosts: ['127.0.0.1'], fingerprint: expect.stringMatching(/^SHA256:/) }],
    });
  });

  it('links: a hook with the right fields and a read-only deploy key appear in GitLab', async () => {
    await slipway('apps', 'create', 'diaspora', '--project', 'mike/diaspora', '--branch', 'master', '--tags', 'v*');

    const linked = await slipway('apps', 'link', 'diaspora');

    expect(project()).toEqual([
      expect.objectContaining({
        id: linked.gitlabHookId,
        url: linked.app.hookUrl,
        push_events: true,
        tag_push_events: true,
        push_events_branch_filter: 'master',
        enable_ssl_verification: true,
      }),
    ]);
    expect(gitlab.deployKeys(15)).toEqual([
      expect.objectContaining({
        id: linked.deployKeyId,
        can_push: false,
        fingerprint_sha256: linked.deployKeyFingerprint,
      }),
    ]);
    expect(await slipway('apps', 'show', 'diaspora')).toMatchObject({ linked: true, projectId: 15 });
  });

  it('accepts a push delivered to the recorded hook URL with the recorded secret', async () => {
    const [hook] = project();
    secretsSeen.add(String(hook?.token));

    const res = await deliverPush(String(hook?.url), String(hook?.token), 'linked-push-1');

    expect(res.status).toBe(202);
  });

  it('relinking rotates secret and key: the old ones stop working and are gone from GitLab', async () => {
    const [oldHook] = project();
    const [oldKey] = gitlab.deployKeys(15);

    const relinked = await slipway('apps', 'link', 'diaspora');

    // The hook GitLab delivers to is updated in place (PUT): same id and URL, a new secret, and
    // merge request events (review apps) for hooks made before them.
    const hooks = project();
    expect(hooks).toHaveLength(1);
    expect(hooks[0]?.id).toBe(relinked.gitlabHookId);
    expect(hooks[0]?.id).toBe(oldHook?.id);
    expect(hooks[0]?.token).not.toBe(oldHook?.token);
    expect(hooks[0]?.merge_requests_events).toBe(true);
    expect(gitlab.requests.some((r) => r.method === 'PUT' && /\/hooks\/\d+$/.test(r.path))).toBe(true);
    expect(hooks[0]?.url).toBe(oldHook?.url);
    expect(gitlab.deployKeys(15).map((k) => k.id)).toEqual([relinked.deployKeyId]);
    expect(relinked.deployKeyId).not.toBe(oldKey?.id);
    secretsSeen.add(String(hooks[0]?.token));
    expect((await deliverPush(String(oldHook?.url), String(oldHook?.token), 'old-secret')).status).toBe(401);
    expect((await deliverPush(String(hooks[0]?.url), String(hooks[0]?.token), 'new-secret')).status).toBe(202);
  });

  it('leaves nothing behind and the app unchanged when GitLab refuses the deploy key', async () => {
    const before = await slipway('apps', 'show', 'diaspora');
    const hooksBefore = project().map((h) => h.id);
    gitlab.failNext({ method: 'POST', pathPattern: /\/deploy_keys$/ }, 500);

    const failed = await run('apps', 'link', 'diaspora');

    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(project().map((h) => h.id)).toEqual(hooksBefore);
    expect(gitlab.deployKeys(15)).toHaveLength(1);
    expect(await slipway('apps', 'show', 'diaspora')).toEqual(before);
  });

  it('unlinks: hook and key are removed from GitLab', async () => {
    const app = await slipway('apps', 'unlink', 'diaspora');

    expect(app).toMatchObject({ linked: false });
    expect(project()).toEqual([]);
    expect(gitlab.deployKeys(15)).toEqual([]);
  });

  it('says clearly when GitLab is unreachable, within a bounded time', async () => {
    gitlab.setDown('hang');
    const started = Date.now();
    const out = await run('apps', 'link', 'diaspora');
    gitlab.setDown(false);

    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/did not answer|unreachable/i);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 40_000);

  it('says clearly when the token was revoked', async () => {
    gitlab.revoke(TOKEN);

    const out = await run('apps', 'link', 'diaspora');

    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/refused the token/);
  });

  it('never shows the token, a webhook secret or a private key in DynamoDB, logs or CLI output', async () => {
    const items = await new DynamoDBClient({
      endpoint: local.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }).send(new ScanCommand({ TableName: local.tableName }));
    const stored = JSON.stringify(items.Items);
    const vault = LocalVault.open(join(local.home, 'vault.key'));
    const connection = (items.Items ?? []).find((i) => i.sk?.S === 'GITLAB');
    // The stored ciphertext opens to the token: the scan below looks for the real thing.
    expect(
      await vault.decrypt(String(connection?.tokenCiphertext?.S), { purpose: 'gitlab-token', instance: gitlab.url }),
    ).toBe(TOKEN);
    const cliText = outputs.map((o) => o.stdout + o.stderr).join('\n');
    const logText = logs.join('');
    expect(logText).toMatch(/app linked/);
    expect(secretsSeen.size).toBeGreaterThanOrEqual(3);

    for (const secret of secretsSeen) {
      expect({ where: 'dynamodb', found: stored.includes(secret) }).toEqual({ where: 'dynamodb', found: false });
      expect({ where: 'logs', found: logText.includes(secret) }).toEqual({ where: 'logs', found: false });
      expect({ where: 'cli', found: cliText.includes(secret) }).toEqual({ where: 'cli', found: false });
    }
    const buildLogs = readdirSync(join(local.home, 'builds'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
    expect(buildLogs.length).toBeGreaterThan(0);
    for (const secret of secretsSeen) expect(buildLogs.join('\n').includes(secret)).toBe(false);
    for (const text of [stored, logText, cliText, ...buildLogs]) {
      expect(text).not.toMatch(/PRIVATE KEY|openssh-key-v1|b3BlbnNzaC1rZXktdjE/);
    }
  });
});
