import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { ConsoleNotifier, type DeliveryOutcome, SlackNotifier } from '../../functions/adapters/notify/slack-notifier';
import type { ReleaseNotice } from '../../functions/domain/ports';
import { report } from '../../functions/domain/reporting';

/** A Slack incoming webhook on loopback: records each post and answers from a script (then 200 `ok`). */
interface Receiver {
  url: string;
  posts: Array<{ path: string; headers: IncomingHttpHeaders; body: unknown }>;
  answer(...replies: Array<{ status: number; body?: string; headers?: Record<string, string> } | 'hang'>): void;
  stop(): Promise<void>;
}

const SECRET_PATH = '/services/T0SLIPWAY/B0RELEASES/s3cr3tW3bh00kT0k3n';

async function startReceiver(): Promise<Receiver> {
  const posts: Receiver['posts'] = [];
  const script: Array<{ status: number; body?: string; headers?: Record<string, string> } | 'hang'> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      posts.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      const reply = script.shift() ?? { status: 200, body: 'ok' };
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers }).end(reply.body ?? '');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${SECRET_PATH}`,
    posts,
    answer: (...replies) => script.push(...replies),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function closedPort(): Promise<number> {
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const live: ReleaseNotice = {
  kind: 'live',
  app: 'web',
  environment: 'production',
  commit: '8f3c2a1b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a',
  title: 'Speed up <checkout> & cart',
  author: 'Ada Lovelace',
  ref: 'refs/heads/main',
  buildSeconds: 95,
  rolloutSeconds: 41,
  url: 'https://gitlab.example/acme/web-shop/-/commit/8f3c2a1b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a',
};

const buildFailed: ReleaseNotice = {
  kind: 'build_failed',
  app: 'web',
  environment: 'production',
  commit: '0123456789abcdef0123456789abcdef01234567',
  title: 'Break the build',
  author: 'Grace Hopper',
  ref: 'refs/tags/v2.0.0',
  buildSeconds: 12,
  reason: 'build: docker build exited 1 (step 4/9: RUN npm ci)',
};

type Section = { type: string; text?: { type: string; text: string }; fields?: Array<{ text: string }> };

describe('the Slack notifier, posting to a real webhook receiver on loopback', () => {
  let receiver: Receiver;
  let outcomes: DeliveryOutcome[];

  const notifier = (options: Partial<ConstructorParameters<typeof SlackNotifier>[0]> = {}) =>
    new SlackNotifier({
      webhookUrl: async () => receiver.url,
      backoffMs: 5,
      onOutcome: (outcome) => outcomes.push(outcome),
      ...options,
    });

  beforeEach(async () => {
    receiver = await startReceiver();
    outcomes = [];
  });

  afterEach(async () => {
    await receiver.stop();
  });

  it('posts a Block Kit message for a live release: header, facts, commit link, timings, a text fallback', async () => {
    await notifier().notify(live);

    expect(outcomes).toEqual([{ delivered: true, attempts: 1 }]);
    expect(receiver.posts).toHaveLength(1);
    const [post] = receiver.posts;
    expect(post?.path).toBe(SECRET_PATH);
    expect(post?.headers['content-type']).toMatch(/^application\/json/);
    const message = post?.body as { text: string; blocks: Section[] };
    expect(message.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: '✅ web is live on production', emoji: true },
    });
    expect(message.blocks[1]?.fields?.map((f) => f.text)).toEqual([
      '*App*\nweb',
      '*Environment*\nproduction',
      `*Commit*\n<${live.url}|8f3c2a1b> Speed up &lt;checkout&gt; &amp; cart`,
      '*Author*\nAda Lovelace',
      '*Ref*\nmain',
      '*Build time*\n1m 35s',
      '*Rollout time*\n41s',
    ]);
    expect(message.blocks).toHaveLength(2);
    // The fallback text is mrkdwn too (Slack shows it in notifications): escaped like the fields.
    expect(message.text).toBe(
      '✅ web is live on production: 8f3c2a1b Speed up &lt;checkout&gt; &amp; cart by Ada Lovelace on main (build 1m 35s, rollout 41s)',
    );
  });

  it('posts a failed build with why, and only the timings it has', async () => {
    await notifier().notify(buildFailed);

    const message = receiver.posts[0]?.body as { text: string; blocks: Section[] };
    expect(message.blocks[0]?.text?.text).toBe('❌ web: build failed');
    const fields = message.blocks[1]?.fields?.map((f) => f.text) ?? [];
    expect(fields).toContain('*Commit*\n`01234567` Break the build');
    expect(fields).toContain('*Ref*\nv2.0.0');
    expect(fields).toContain('*Build time*\n12s');
    expect(fields.some((f) => f.startsWith('*Rollout time*'))).toBe(false);
    expect(message.blocks[2]).toEqual({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: '*Reason*\n```build: docker build exited 1 (step 4/9: RUN npm ci)```',
        verbatim: true,
      },
    });
    expect(message.text).toContain('— build: docker build exited 1');
  });

  it.each([
    ['rollout_failed', '❌ web: rollout failed on production'],
    ['rolled_back', '↩️ web: rolled back on production'],
  ] as const)('heads a %s notice with its emoji', async (kind, header) => {
    await notifier().notify({ ...live, kind, reason: 'circuit breaker' });

    const message = receiver.posts[0]?.body as { blocks: Section[] };
    expect(message.blocks[0]?.text?.text).toBe(header);
    expect(message.blocks[2]?.text?.text).toBe('*Reason*\n```circuit breaker```');
  });

  it('carries text from a push as text: no live mention or injected link in the blocks or the fallback', async () => {
    const hostile = '<!channel> <https://evil|https://gitlab.example.com> & more';
    await notifier().notify({
      ...buildFailed,
      title: hostile,
      author: '<!here|here> <@U0ADMIN>',
      ref: 'refs/heads/<!everyone>',
      reason: `build: ${hostile}`,
      url: live.url,
    });

    const message = receiver.posts[0]?.body as { text: string; blocks: Section[] };
    const everything = JSON.stringify(message);
    for (const markup of [
      '<!channel>',
      '<!here',
      '<!everyone>',
      '<@U0ADMIN>',
      '<https://evil',
      '|https://gitlab.example.com>',
    ]) {
      expect(everything).not.toContain(markup);
    }
    // Every `<` left is the start of the one link Slipway makes itself (the commit, label escaped).
    expect(everything.match(/</g)).toHaveLength(1);
    expect(everything).toContain(`<${live.url}|01234567>`);
    expect(message.text).toBe(
      '❌ web: build failed: 01234567 &lt;!channel&gt; &lt;https://evil|https://gitlab.example.com&gt; &amp; more ' +
        'by &lt;!here|here&gt; &lt;@U0ADMIN&gt; on &lt;!everyone&gt; (build 12s) — build: &lt;!channel&gt; ' +
        '&lt;https://evil|https://gitlab.example.com&gt; &amp; more',
    );
    const fields = message.blocks[1]?.fields?.map((f) => f.text) ?? [];
    expect(fields).toContain(
      `*Commit*\n<${live.url}|01234567> &lt;!channel&gt; &lt;https://evil|https://gitlab.example.com&gt; &amp; more`,
    );
    expect(fields).toContain('*Author*\n&lt;!here|here&gt; &lt;@U0ADMIN&gt;');
    expect(fields).toContain('*Ref*\n&lt;!everyone&gt;');
    expect(message.blocks[2]?.text?.text).toBe(
      '*Reason*\n```build: &lt;!channel&gt; &lt;https://evil|https://gitlab.example.com&gt; &amp; more```',
    );
  });

  it('delivers after 500, 500, 200: three attempts, the same message each time', async () => {
    receiver.answer({ status: 500, body: 'rollup_error' }, { status: 500, body: 'rollup_error' });

    const outcome = await notifier().deliver(live);

    expect(outcome).toEqual({ delivered: true, attempts: 3 });
    expect(receiver.posts).toHaveLength(3);
    expect(new Set(receiver.posts.map((p) => JSON.stringify(p.body))).size).toBe(1);
  });

  it('gives up on a Slack that keeps failing after the bound, without throwing', async () => {
    receiver.answer(...Array.from({ length: 10 }, () => ({ status: 503, body: 'service_unavailable' })));
    const started = Date.now();

    await expect(notifier({ retries: 3 }).notify(live)).resolves.toBeUndefined();

    expect(Date.now() - started).toBeLessThan(2_000);
    expect(receiver.posts).toHaveLength(4);
    expect(outcomes).toEqual([
      { delivered: false, attempts: 4, error: 'Slack answered 503 service_unavailable (gave up after 4 attempts)' },
    ]);
  });

  it('waits a short Retry-After on 429, and gives up at once on a long one', async () => {
    receiver.answer({ status: 429, body: 'rate_limited', headers: { 'retry-after': '1' } });
    const started = Date.now();

    const waited = await notifier().deliver(live);

    expect(waited).toEqual({ delivered: true, attempts: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);

    receiver.answer({ status: 429, body: 'rate_limited', headers: { 'retry-after': '3600' } });
    const refused = await notifier().deliver(live);

    expect(refused).toEqual({
      delivered: false,
      attempts: 1,
      error: 'Slack answered 429 rate_limited; Retry-After 3600 s is too long to wait',
    });
  });

  it('does not retry what Slack refuses (4xx): the message or the hook is wrong', async () => {
    receiver.answer({ status: 404, body: 'no_service' });

    const outcome = await notifier().deliver(live);

    expect(outcome).toEqual({ delivered: false, attempts: 1, error: 'Slack refused the notice (404 no_service)' });
    expect(receiver.posts).toHaveLength(1);
  });

  it('bounds each attempt by the timeout', async () => {
    receiver.answer('hang', 'hang');
    const started = Date.now();

    const outcome = await notifier({ timeoutMs: 200, retries: 1 }).deliver(live);

    expect(Date.now() - started).toBeLessThan(1_500);
    expect(outcome).toEqual({
      delivered: false,
      attempts: 2,
      error: 'Slack did not answer within 200 ms (gave up after 2 attempts)',
    });
  });

  it('never lets the webhook URL out: not in outcomes, errors or logs', async () => {
    const logged: unknown[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
      jest.spyOn(console, level).mockImplementation((...args: unknown[]) => logged.push(args)),
    );
    try {
      const port = await closedPort();
      const closed = new SlackNotifier({
        webhookUrl: async () => `http://127.0.0.1:${port}${SECRET_PATH}`,
        retries: 1,
        backoffMs: 1,
        onOutcome: (o) => outcomes.push(o),
      });
      const leaky = notifier({
        retries: 0,
        fetch: async (input) => {
          throw new TypeError(`Failed to parse URL from ${String(input)}`);
        },
      });
      receiver.answer({ status: 500, body: `echo ${receiver.url}` });

      const results = [
        await closed.deliver(live),
        await leaky.deliver(live),
        await notifier({ retries: 0 }).deliver(live),
      ];

      expect(results[0]?.error).toMatch(/cannot reach Slack: ECONNREFUSED/);
      expect(results[1]?.error).toBe(
        'cannot reach Slack: Failed to parse URL from [webhook] (gave up after 1 attempt)',
      );
      const everything = JSON.stringify({ results, outcomes, logged });
      expect(everything).not.toContain('s3cr3tW3bh00kT0k3n');
      expect(everything).not.toContain(SECRET_PATH);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it('reports a missing or unreadable webhook URL as an outcome, posting nothing', async () => {
    const none = await notifier({ webhookUrl: async () => undefined }).deliver(live);
    const broken = await notifier({
      webhookUrl: async () => {
        throw new Error('cannot read the Slack webhook secret slipway/slack (AccessDeniedException)');
      },
    }).deliver(live);

    expect(none).toEqual({ delivered: false, attempts: 0, skipped: true, error: 'no Slack webhook URL configured' });
    expect(
      await report(
        { notifier: notifier({ webhookUrl: async () => undefined }) },
        {
          kind: 'release_live',
          target: { app: 'web', environment: 'production', commit: live.commit, ref: 'main', title: 't', author: 'a' },
        },
      ),
    ).toEqual({ gitlab: 'skipped', slack: 'skipped' });
    expect(broken.error).toBe(
      'Slack webhook URL unavailable: cannot read the Slack webhook secret slipway/slack (AccessDeniedException)',
    );
    expect(receiver.posts).toEqual([]);
  });

  it('gives report() a failed Slack outcome when Slack is down, and an ok one when it answers', async () => {
    receiver.answer(...Array.from({ length: 3 }, () => ({ status: 500, body: 'rollup_error' })));
    const slack = notifier({ retries: 2 });
    const target = {
      app: 'web',
      environment: 'production',
      commit: live.commit,
      ref: 'refs/heads/main',
      title: 'Speed up checkout',
      author: 'Ada Lovelace',
    };

    const down = await report({ notifier: slack }, { kind: 'release_live', target });
    const up = await report({ notifier: slack }, { kind: 'build_failed', target, reason: 'test: 3 failed' });

    expect(down).toEqual({
      gitlab: 'skipped',
      slack: 'failed: Slack answered 500 rollup_error (gave up after 3 attempts)',
    });
    expect(up).toEqual({ gitlab: 'skipped', slack: 'ok' });
    expect(receiver.posts).toHaveLength(4);
  });
});

describe('the console notifier (local mode without a webhook)', () => {
  it('writes one line per notice, without control characters', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const console = new ConsoleNotifier(stream);

    await console.notify(live);
    await console.notify(buildFailed);

    await console.notify({
      ...live,
      title: 'Fix \u001b]0;pwned\u0007the \u001b[31mbuild\u001b[0m\u0007',
      author: 'Mallory\u009b2J',
      ref: 'refs/heads/main\u001b[1A',
    });

    const lines = chunks.join('').split('\n');
    expect(lines).toEqual([
      '✅ web is live on production: 8f3c2a1b Speed up <checkout> & cart by Ada Lovelace on main (build 1m 35s, rollout 41s)',
      '❌ web: build failed: 01234567 Break the build by Grace Hopper on v2.0.0 (build 12s) — build: docker build exited 1 (step 4/9: RUN npm ci)',
      // Terminal escape sequences from a push never reach the terminal local mode runs in.
      '✅ web is live on production: 8f3c2a1b Fix the build by Mallory on main (build 1m 35s, rollout 41s)',
      '',
    ]);
  });
});
