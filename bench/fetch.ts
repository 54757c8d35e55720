/**
 * Fetch benchmark (issue 4 acceptance): how long the build takes to get the pushed commit from a
 * repository with long history, next to a full clone of the same repository measured in the same
 * run, over a real sshd on loopback with a generated ed25519 deploy key and a pinned host key,
 * with exactly the ssh options and git commands of the buildspec's fetch step.
 *
 *   npm run bench:fetch               full run (about 2.5 min)
 *   npm run bench:fetch -- --quick    short run, for a smoke test (about 45 s; 1,200 commits)
 *
 * The repository is generated with `git fast-import` from a seeded PRNG, so every run serves the
 * same commits (same ids): a linear history of source, tests, docs, a lock file, fixtures that
 * grow and binary assets that get replaced. The server side is a bare repository repacked with a
 * bitmap (as a hosted forge keeps it) with `uploadpack.allowAnySHA1InWant` and
 * `uploadpack.allowFilter` (what GitLab's Gitaly sets: fetching by sha works on GitLab).
 * Results: docs/PERFORMANCE.md.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { generateDeployKey } from '../functions/adapters/ssh/deploy-key';
import { freePort, sshdListening, stopChild } from '../test/support/processes';
import { SSHD, sshdConfig, sshdUnavailable } from '../test/support/sshd';
import { fmt, header, log, median, percentile, QUICK, ratio, runBench, table, versionOf } from './support';

/** Commits in the generated history (linear). The old commit is BACK commits behind the tip. */
const COMMITS = QUICK ? 1200 : 2500;
const BACK = 1000;
/** Measured repetitions of each scenario (full: after one unmeasured warm-up round). */
const REPS = QUICK ? 2 : 9;
const WARMUP_ROUNDS = QUICK ? 0 : 1;
/** No new round starts after this (a loaded machine gets fewer rounds, at least MIN_REPS)... */
const SOFT_LIMIT_MS = (QUICK ? 0.6 : 3.5) * 60_000;
const MIN_REPS = QUICK ? 1 : 3;
/** ...and the whole run must end by then, whatever happens. */
const TIME_LIMIT_MS = (QUICK ? 1 : 5) * 60_000;
/** No single git command may take longer. */
const COMMAND_LIMIT_MS = QUICK ? 40_000 : 120_000;
const SEED = 0x5119_3a7;

// ---- a deterministic repository -----------------------------------------------------------

/** mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const bytes = (n: number) => {
    const out = Buffer.allocUnsafe(n + 4);
    for (let i = 0; i < n; i += 4) out.writeUInt32LE((next() * 4294967296) >>> 0, i);
    return out.subarray(0, n);
  };
  return { next, int, pick, bytes };
}

type Rng = ReturnType<typeof prng>;

function vocabulary(rng: Rng): string[] {
  const syllables = ['ba', 'co', 'de', 'fi', 'ga', 'hu', 'ki', 'lo', 'me', 'no', 'pa', 'qu', 'ri', 'su', 'te', 'vo'];
  const more = ['x', 'r', 'n', 'st', 'l', 'm', 'nd', 'ck', 'th', ''];
  const words = new Set<string>();
  while (words.size < 1500) {
    let w = '';
    for (let i = rng.int(1, 3); i > 0; i -= 1) w += rng.pick(syllables);
    words.add(w + rng.pick(more));
  }
  return [...words];
}

/** Text files are arrays of lines; binary files are buffers. */
type Content = string[] | Buffer;

class History {
  private readonly rng = prng(SEED);
  private readonly words = vocabulary(this.rng);
  readonly files = new Map<string, Content>();
  private readonly growing: string[] = [];
  private lockEntries: string[][] = [];
  private serial = 0;

  private word() {
    return this.rng.pick(this.words);
  }
  private camel() {
    const w = this.word();
    const v = this.word();
    return w + v.charAt(0).toUpperCase() + v.slice(1);
  }
  private codeLine(): string {
    const r = this.rng;
    const indent = '  '.repeat(r.int(0, 3));
    switch (r.int(0, 6)) {
      case 0:
        return `${indent}const ${this.camel()} = await ${this.camel()}(${this.camel()}, ${r.int(0, 9999)});`;
      case 1:
        return `${indent}if (${this.camel()}.${this.word()} !== ${this.camel()}) return ${this.camel()}(${this.word()});`;
      case 2:
        return `${indent}// ${this.sentence()}`;
      case 3:
        return `${indent}${this.camel()}.${this.camel()}('${this.word()}-${this.word()}', { ${this.word()}: ${r.int(0, 99)} });`;
      case 4:
        return `${indent}export function ${this.camel()}(${this.camel()}: ${this.camel()}): ${this.camel()} {`;
      case 5:
        return `${indent}}`;
      default:
        return `${indent}let ${this.camel()} = ${this.camel()}.${this.word()}(${this.camel()}) ?? '${this.word()}';`;
    }
  }
  private sentence(): string {
    const n = this.rng.int(5, 14);
    const words = Array.from({ length: n }, () => this.word());
    const first = words[0] ?? '';
    words[0] = first.charAt(0).toUpperCase() + first.slice(1);
    return `${words.join(' ')}.`;
  }
  private lines(n: number, make: () => string): string[] {
    return Array.from({ length: n }, make);
  }
  private prose(n: number): string[] {
    return this.lines(n, () => (this.rng.next() < 0.15 ? '' : this.sentence()));
  }
  private record(): string {
    this.serial += 1;
    const id = this.serial;
    return `  {"id": ${id}, "name": "${this.camel()}", "kind": "${this.word()}", "score": ${this.rng.int(0, 100000)}, "tags": ["${this.word()}", "${this.word()}"]},`;
  }
  private lockEntry(): string[] {
    const name = `${this.word()}-${this.word()}`;
    return [
      `    "node_modules/${name}": {`,
      `      "version": "${this.rng.int(0, 9)}.${this.rng.int(0, 40)}.${this.rng.int(0, 30)}",`,
      `      "resolved": "https://registry.npmjs.org/${name}/-/${name}.tgz",`,
      `      "integrity": "sha512-${this.rng.bytes(64).toString('base64')}",`,
      '    },',
    ];
  }
  private asset(): Buffer {
    // Compressed media: a header and incompressible bytes, 20–160 KB.
    return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), this.rng.bytes(this.rng.int(20_000, 160_000))]);
  }
  private lockFile(): string[] {
    return ['{', '  "lockfileVersion": 3,', '  "packages": {', ...this.lockEntries.flat(), '  }', '}'];
  }

  /** The first commit: about 330 files. */
  initial(): Map<string, Content> {
    const r = this.rng;
    const modules = Array.from({ length: 12 }, () => this.word());
    for (let i = 0; i < 200; i += 1) {
      const path = `src/${r.pick(modules)}/${this.camel()}.ts`;
      this.files.set(
        path,
        this.lines(r.int(40, 300), () => this.codeLine()),
      );
      if (r.next() < 0.1) this.growing.push(path);
    }
    for (let i = 0; i < 70; i += 1) {
      this.files.set(
        `test/${r.pick(modules)}/${this.camel()}.test.ts`,
        this.lines(r.int(30, 200), () => this.codeLine()),
      );
    }
    for (let i = 0; i < 20; i += 1) this.files.set(`docs/${this.word()}-${this.word()}.md`, this.prose(r.int(20, 120)));
    for (let i = 0; i < 8; i += 1) {
      const path = `data/fixtures/${this.word()}.json`;
      this.files.set(
        path,
        this.lines(r.int(20, 100), () => this.record()),
      );
      this.growing.push(path);
    }
    for (let i = 0; i < 30; i += 1) this.files.set(`public/img/${this.word()}-${this.word()}.png`, this.asset());
    this.lockEntries = Array.from({ length: 500 }, () => this.lockEntry());
    this.files.set('package-lock.json', this.lockFile());
    this.files.set('CHANGELOG.md', ['# Changelog', '']);
    this.files.set('README.md', ['# generated', '', ...this.prose(30)]);
    return new Map(this.files);
  }

  /** One later commit: the files it sets (new content) and deletes. */
  change(index: number): { set: Map<string, Content>; deleted: string[]; message: string } {
    const r = this.rng;
    const set = new Map<string, Content>();
    const deleted: string[] = [];
    const textPaths = [...this.files.keys()].filter((p) => Array.isArray(this.files.get(p)));
    const edit = (path: string, make: () => string) => {
      const lines = [...((this.files.get(path) as string[] | undefined) ?? [])];
      for (let k = r.int(1, 8); k > 0 && lines.length > 0; k -= 1) lines[r.int(0, lines.length - 1)] = make();
      const at = r.int(0, lines.length);
      lines.splice(at, r.int(0, 24), ...this.lines(r.int(2, 28), make));
      this.files.set(path, lines);
      set.set(path, lines);
    };
    for (let k = r.int(1, 4); k > 0; k -= 1) {
      const path = r.pick(textPaths);
      edit(path, () =>
        path.endsWith('.md') ? this.sentence() : path.endsWith('.json') ? this.record() : this.codeLine(),
      );
    }
    if (r.next() < 0.2) {
      const path = r.pick(this.growing);
      const lines = [
        ...((this.files.get(path) as string[]) ?? []),
        ...this.lines(r.int(10, 60), () => (path.endsWith('.json') ? this.record() : this.codeLine())),
      ];
      this.files.set(path, lines);
      set.set(path, lines);
    }
    if (index % 12 === 0) {
      for (let k = r.int(1, 12); k > 0; k -= 1)
        this.lockEntries[r.int(0, this.lockEntries.length - 1)] = this.lockEntry();
      if (r.next() < 0.5) this.lockEntries.push(this.lockEntry());
      const lock = this.lockFile();
      this.files.set('package-lock.json', lock);
      set.set('package-lock.json', lock);
    }
    if (index % 25 === 0) {
      const log = this.files.get('CHANGELOG.md') as string[];
      const next = [
        log[0] ?? '',
        '',
        `## ${index}`,
        ...this.lines(r.int(1, 5), () => `- ${this.sentence()}`),
        ...log.slice(1),
      ];
      this.files.set('CHANGELOG.md', next);
      set.set('CHANGELOG.md', next);
    }
    if (index % 25 === 0) {
      const assets = [...this.files.keys()].filter((p) => p.startsWith('public/img/'));
      const path = r.next() < 0.8 ? r.pick(assets) : `public/img/${this.word()}-${this.word()}.png`;
      const data = this.asset();
      this.files.set(path, data);
      set.set(path, data);
    }
    if (index % 30 === 0) {
      const path = `src/${this.word()}/${this.camel()}.ts`;
      const lines = this.lines(r.int(40, 200), () => this.codeLine());
      this.files.set(path, lines);
      set.set(path, lines);
    }
    if (index % 90 === 0) {
      const path = r.pick(textPaths.filter((p) => p.startsWith('src/') && !this.growing.includes(p)));
      if (!set.has(path)) {
        this.files.delete(path);
        deleted.push(path);
      }
    }
    const verbs = ['Fix', 'Add', 'Refactor', 'Update', 'Remove', 'Speed up', 'Document', 'Test'];
    return { set, deleted, message: `${r.pick(verbs)} ${this.word()} ${this.word()} (#${index})\n` };
  }
}

function encode(content: Content): Buffer {
  return Buffer.isBuffer(content) ? content : Buffer.from(`${content.join('\n')}\n`, 'utf8');
}

/** Writes the whole history into a new bare repository `bare` with `git fast-import`. */
async function generate(bare: string, env: NodeJS.ProcessEnv): Promise<void> {
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare], { env });
  const child = track(spawn('git', ['fast-import', '--quiet'], { cwd: bare, env, stdio: ['pipe', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}: ${stderr}`)),
    );
  });
  const stdin = child.stdin;
  if (!stdin) throw new Error('git fast-import has no stdin');
  // If fast-import dies, `done` says why (an EPIPE on stdin says nothing more).
  stdin.on('error', () => undefined);
  const write = async (data: Buffer | string) => {
    if (!stdin.write(data)) await Promise.race([new Promise((resolve) => stdin.once('drain', resolve)), done]);
  };

  const history = new History();
  const authors = [
    'Ada Lovelace <ada@example.com>',
    'Grace Hopper <grace@example.com>',
    'Linus Pauling <linus@example.com>',
  ];
  const rng = prng(SEED ^ 0xabcdef);
  let when = Date.UTC(2019, 0, 7, 9) / 1000;
  for (let i = 0; i < COMMITS; i += 1) {
    const { set, deleted, message } =
      i === 0 ? { set: history.initial(), deleted: [] as string[], message: 'Initial commit\n' } : history.change(i);
    when += rng.int(600, 40_000);
    const who = rng.pick(authors);
    const msg = Buffer.from(message, 'utf8');
    await write(
      `commit refs/heads/main\nmark :${i + 1}\nauthor ${who} ${when} +0000\ncommitter ${who} ${when} +0000\n`,
    );
    await write(`data ${msg.length}\n`);
    await write(msg);
    await write('\n');
    for (const path of deleted) await write(`D ${path}\n`);
    for (const [path, content] of set) {
      const data = encode(content);
      await write(`M 100644 inline ${path}\ndata ${data.length}\n`);
      await write(data);
      await write('\n');
    }
    await write('\n');
  }
  stdin.end();
  await done;
}

// ---- running git ----------------------------------------------------------------------------

const children = new Set<ChildProcess>();
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function git(args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd: opts.cwd, env: opts.env, timeout: COMMAND_LIMIT_MS, maxBuffer: 64 * 2 ** 20, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`git ${args.join(' ')}: ${error.message}\n${stderr}`));
        else resolve(stdout.trim());
      },
    );
    track(child);
  });
}

/** Apparent size of everything under `dir`, in bytes. */
function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += sizeOf(path);
    else total += lstatSync(path).size;
  }
  return total;
}

// ---- the server: a real sshd on loopback -----------------------------------------------------

/**
 * Like test/support/sshd.ts (same config, same forced `git-upload-pack` per key), with two
 * differences that make it closer to GitLab's SSH and keep this machine out of the figures:
 * `SetEnv HOME=…` (sshd runs the forced command through the user's login shell, and bash then
 * reads ~/.bashrc, which on a developer machine can cost seconds per connection: pyenv, nvm…;
 * GitLab's git user has no such rc), and `AcceptEnv GIT_PROTOCOL` (git protocol v2, which
 * gitlab-shell speaks; without it every fetch falls back to v0).
 */
interface Server {
  hostKeyLine: string;
  gitUrl: string;
  child: ChildProcess;
}

async function startServer(dir: string, repoPath: string, publicKey: string): Promise<Server> {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-bench-sshd', '-f', hostKey]);
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, `restrict,command="git-upload-pack '${repoPath}'" ${publicKey.trim()}\n`, {
    mode: 0o600,
  });
  const serverHome = join(dir, 'server-home');
  mkdirSync(serverHome);
  try {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  } catch {
    // Not root: sshd says for itself whether it can do without.
  }
  const user = userInfo().username;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(config, sshdConfig({ port, dir, hostKey, authorizedKeys, serverHome, logLevel: 'INFO' }));
    const child = track(spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] }));
    try {
      await sshdListening(child, port);
      const [keyType, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
      return {
        hostKeyLine: `[127.0.0.1]:${port} ${keyType} ${key}`,
        gitUrl: `ssh://${user}@127.0.0.1:${port}${repoPath}`,
        child,
      };
    } catch (error) {
      lastError = error;
      await stopChild(child);
    }
  }
  throw lastError;
}

// ---- measuring ------------------------------------------------------------------------------

interface Scenario {
  name: string;
  /** Gets the commit into `dir` and checks it out; may return the seconds of its steps. */
  run(dir: string): Promise<Record<string, number> | undefined>;
  /** The commit it must end on; none when it checks nothing out (then no bytes either). */
  expected?: string;
}

interface Result {
  scenario: string;
  n: number;
  median: number;
  min: number;
  p90: number;
  bytes: number;
}

function steps(marks: number[], names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((name, i) => [name, ((marks[i + 1] ?? 0) - (marks[i] ?? 0)) / 1000]));
}

const MB = 2 ** 20;

function resultTable(results: Result[], floor: Result): string {
  return table([
    ['scenario', 'n', 'median s', 'min s', 'p90 s', '.git MiB', 'time vs clone', 'bytes vs clone'],
    ...results.map((r) => [
      r.scenario,
      String(r.n),
      fmt(r.median),
      fmt(r.min),
      fmt(r.p90),
      fmt(r.bytes / MB),
      ratio(r.median, floor.median, 3),
      ratio(r.bytes, floor.bytes, 3),
    ]),
  ]);
}

// ---- the run --------------------------------------------------------------------------------

let server: Server | undefined;
let work: string | undefined;

async function cleanUp(): Promise<void> {
  if (server) await stopChild(server.child);
  server = undefined;
  for (const child of children) child.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
  work = undefined;
}

async function main(): Promise<number> {
  const unavailable = sshdUnavailable();
  if (unavailable) {
    process.stderr.write(`bench:fetch: ${unavailable}\n`);
    return 1;
  }
  const startedAt = performance.now();
  header('bench:fetch', [`${versionOf('git', ['--version'])}; ${versionOf('ssh', ['-V'])}`]);

  work = mkdtempSync(join(tmpdir(), 'slipway-bench-fetch-'));
  const home = join(work, 'home');
  mkdirSync(home);
  // No configuration from this machine, for the generator and for the clients alike.
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
  };

  // The deploy key (as the link flow makes it), and a real sshd that lets it run git-upload-pack.
  const key = generateDeployKey('slipway bench:fetch');
  const keyDir = join(work, 'key');
  mkdirSync(keyDir, { mode: 0o700 });
  const keyFile = join(keyDir, 'deploy_key');
  writeFileSync(keyFile, key.privateKey, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const bare = join(work, 'repo.git');
  let t0 = performance.now();
  await generate(bare, baseEnv);
  const imported = (performance.now() - t0) / 1000;
  t0 = performance.now();
  // What a forge keeps: one pack, deltas recomputed, a reachability bitmap.
  await git(['repack', '-a', '-d', '-f', '-b', '--quiet'], { cwd: bare, env: baseEnv });
  await git(['prune-packed'], { cwd: bare, env: baseEnv });
  const repacked = (performance.now() - t0) / 1000;
  // Gitaly runs upload-pack with these: fetching any commit by id, and partial clone.
  await git(['config', 'uploadpack.allowAnySHA1InWant', 'true'], { cwd: bare, env: baseEnv });
  await git(['config', 'uploadpack.allowFilter', 'true'], { cwd: bare, env: baseEnv });
  server = await startServer(work, bare, key.publicKey);
  const knownHosts = join(keyDir, 'known_hosts');
  writeFileSync(knownHosts, `${server.hostKeyLine}\n`);

  const tip = await git(['rev-parse', 'main'], { cwd: bare, env: baseEnv });
  const old = await git(['rev-parse', `main~${BACK}`], { cwd: bare, env: baseEnv });
  const commits = await git(['rev-list', '--count', 'main'], { cwd: bare, env: baseEnv });
  const tipFiles = (await git(['ls-tree', '-r', '--name-only', 'main'], { cwd: bare, env: baseEnv })).split(
    '\n',
  ).length;
  const tipBytes = (await git(['ls-tree', '-r', '-l', 'main'], { cwd: bare, env: baseEnv }))
    .split('\n')
    .reduce((sum, line) => sum + Number(line.split(/\s+/)[3] ?? 0), 0);
  const counts = Object.fromEntries(
    (await git(['count-objects', '-v'], { cwd: bare, env: baseEnv })).split('\n').map((line) => {
      const [k, v] = line.split(': ');
      return [k, Number(v)];
    }),
  ) as Record<string, number>;
  log(
    `  repository: ${commits} commits (linear), ${counts['in-pack']?.toLocaleString('en')} objects, ` +
      `pack ${((counts['size-pack'] ?? 0) / 1024).toFixed(1)} MiB; tip ${tipFiles} files, ${(tipBytes / MB).toFixed(1)} MiB`,
  );
  log(`  generated in ${imported.toFixed(1)} s (fast-import) + ${repacked.toFixed(1)} s (repack -a -d -f -b)`);
  log(`  tip ${tip}; old (main~${BACK}) ${old}`);

  // Exactly how the buildspec (buildspecs/build.yml, step fetch) runs git over SSH.
  const ssh = [
    'ssh -F /dev/null',
    `-i ${keyFile}`,
    '-o IdentitiesOnly=yes -o IdentityAgent=none',
    `-o UserKnownHostsFile=${knownHosts}`,
    '-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes',
    '-o ConnectTimeout=20',
  ].join(' ');
  const env: NodeJS.ProcessEnv = { ...baseEnv, GIT_SSH_COMMAND: ssh, GIT_ALLOW_PROTOCOL: 'ssh' };
  const url = server.gitUrl;

  const buildFetch = (sha: string) => async (dir: string) => {
    const t = [performance.now()];
    await git(['-c', 'init.defaultBranch=main', 'init', '--quiet', dir], { env });
    await git(['remote', 'add', 'origin', url], { cwd: dir, env });
    t.push(performance.now());
    await git(['fetch', '--quiet', '--depth', '1', '--no-tags', '--no-recurse-submodules', 'origin', sha], {
      cwd: dir,
      env,
    });
    t.push(performance.now());
    await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', 'FETCH_HEAD'], { cwd: dir, env });
    t.push(performance.now());
    return steps(t, ['init + remote add', 'fetch', 'checkout']);
  };
  const clone = (sha: string, extra: string[]) => async (dir: string) => {
    const t = [performance.now()];
    await git(['clone', '--quiet', '--no-checkout', ...extra, url, dir], { env });
    t.push(performance.now());
    await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', sha], { cwd: dir, env });
    t.push(performance.now());
    return steps(t, ['clone', 'checkout']);
  };
  const scenarios: Scenario[] = [
    { name: '(a) build fetch: tip, --depth 1 by sha', run: buildFetch(tip), expected: tip },
    { name: `(b) build fetch: main~${BACK}, --depth 1 by sha`, run: buildFetch(old), expected: old },
    { name: '(c) full clone + checkout tip (floor)', run: clone(tip, []), expected: tip },
    { name: '(d) clone --filter=blob:none + checkout tip', run: clone(tip, ['--filter=blob:none']), expected: tip },
    {
      name: '(e) git ls-remote: one SSH connection, no objects',
      run: async () => {
        await git(['ls-remote', url, 'main'], { env });
        return undefined;
      },
    },
  ];

  // Which protocol the server speaks to this client (v2 needs sshd to accept GIT_PROTOCOL).
  const trace = join(work, 'packet-trace');
  await git(['ls-remote', url, 'main'], { env: { ...env, GIT_TRACE_PACKET: trace } });
  const protocol = readFileSync(trace, 'utf8').includes('< version 2') ? 'v2' : 'v0';
  log(`  git protocol over SSH: ${protocol}`);

  const times = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  const stepTimes = new Map<string, Map<string, number[]>>(scenarios.map((s) => [s.name, new Map()]));
  const bytes = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  const clients = join(work, 'clients');
  mkdirSync(clients);
  let serial = 0;
  // The warm-up round (page cache, first connections) is not measured. The scenarios alternate
  // within each round so that drifting load hits them all alike.
  for (let round = 1 - WARMUP_ROUNDS; round <= REPS; round += 1) {
    if (round > MIN_REPS && performance.now() - startedAt > SOFT_LIMIT_MS) {
      log(`  stopping after ${round - 1} rounds: the time budget is spent`);
      break;
    }
    const took: string[] = [];
    for (const scenario of scenarios) {
      serial += 1;
      const dir = join(clients, `c${serial}`);
      const started = performance.now();
      const split = await scenario.run(dir);
      const seconds = (performance.now() - started) / 1000;
      if (scenario.expected) {
        const head = await git(['rev-parse', 'HEAD'], { cwd: dir, env });
        if (head !== scenario.expected)
          throw new Error(`${scenario.name}: checked out ${head}, not ${scenario.expected}`);
      }
      if (round > 0) {
        times.get(scenario.name)?.push(seconds);
        bytes.get(scenario.name)?.push(scenario.expected ? sizeOf(join(dir, '.git')) : Number.NaN);
        for (const [step, value] of Object.entries(split ?? {})) {
          const all = stepTimes.get(scenario.name);
          all?.set(step, [...(all.get(step) ?? []), value]);
        }
      }
      rmSync(dir, { recursive: true, force: true });
      took.push(seconds.toFixed(2));
    }
    log(`  round ${round}${round === 0 ? ' (warm-up)' : ''}: ${took.join(' / ')} s`);
  }

  const results: Result[] = scenarios.map((s) => {
    const t = [...(times.get(s.name) ?? [])].sort((a, b) => a - b);
    const b = [...(bytes.get(s.name) ?? [])].sort((x, y) => x - y);
    return {
      scenario: s.name,
      n: t.length,
      median: percentile(t, 50),
      min: t[0] ?? Number.NaN,
      p90: percentile(t, 90),
      bytes: b.length > 0 ? percentile(b, 50) : Number.NaN,
    };
  });
  const floor = results[2] as Result;
  log('');
  log(resultTable(results, floor));
  log('');
  log('Time: from `git init` (or `git clone`) to the commit checked out, wall clock, one at a time.');
  log('.git MiB: size of .git afterwards (what was received, plus index and config). vs clone: ÷ (c).');
  log('');
  log('Median seconds of each step:');
  for (const [name, split] of stepTimes) {
    if (split.size === 0) continue;
    const parts = [...split].map(([step, values]) => `${step} ${median(values).toFixed(2)}`);
    log(`  ${name.slice(0, 4)} ${parts.join(', ')}`);
  }
  return 0;
}

runBench('bench:fetch', TIME_LIMIT_MS, main, cleanUp);
