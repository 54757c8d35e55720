import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { runBuildspec } from '../../functions/adapters/builder/buildspec-runner';
import { LocalBuilder } from '../../functions/adapters/builder/local-builder';
import { generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { knownHostsFor } from '../../functions/adapters/ssh/known-hosts';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { bundleTools } from '../../functions/build/bundle-tools';
import { newId } from '../../functions/domain/ids';
import type { BuildJob, BuildOutcome } from '../../functions/domain/ports';
import { type Sshd, sshdUnavailable, startSshd } from '../support/sshd';

const ROOT = resolve(__dirname, '../..');
const FAKE_DOCKER = join(ROOT, 'test/support/fake-docker');
const APP = 'shop';
const REPOSITORY = `slipway/${APP}`;

const unavailable = sshdUnavailable();
if (unavailable) console.warn(unavailable);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface DockerCall {
  cwd: string;
  argv: string[];
}

(unavailable ? describe.skip : describe)('buildspecs/build.yml run by the local builder against a real sshd', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-local-build-'));
  const home = join(dir, 'home');
  const vaultKeyFile = join(dir, 'vault.key');
  const deployKey = generateDeployKey(`slipway: ${APP}`);
  /** The base64 lines of the private key: none may ever reach a log. */
  const keyMaterial = deployKey.privateKey.split('\n').filter((line) => line && !line.startsWith('-----'));
  let ciphertext: string;
  let sshd: Sshd;
  /** First commit: a README and a Dockerfile. Second (main): adds the Compose file and its services. */
  let first: string;
  let second: string;
  type Run = Awaited<ReturnType<typeof build>>;
  const runs: Record<'compose' | 'single' | 'failing' | 'wrongKey' | 'unpinned', Run> = {} as never;
  let pushed: Awaited<ReturnType<typeof pushBuild>>;

  beforeAll(async () => {
    ciphertext = await LocalVault.open(vaultKeyFile).encrypt(deployKey.privateKey, { purpose: 'deploy-key', app: APP });
    sshd = await startSshd({ authorizedKeys: [deployKey.publicKey] });
    [first, second] = pushHistory(join(dir, 'author'), sshd.repoPath);
    // What GitLab allows too: fetching any reachable commit by its sha, not only branch tips.
    execFileSync('git', ['--git-dir', sshd.repoPath, 'config', 'uploadpack.allowReachableSHA1InWant', 'true']);

    // The builds are independent: they run side by side (each its own builder, work dir and log).
    const [keyType, key] = generateDeployKey('an impostor').publicKey.split(' ');
    [runs.compose, runs.single, runs.failing, runs.wrongKey, runs.unpinned, pushed] = await Promise.all([
      build({}),
      build({ commit: first }),
      build({}, { FAKE_DOCKER_FAIL_ON: 'web' }),
      build({ knownHosts: knownHostsFor('127.0.0.1', sshd.port, [{ keyType: keyType ?? '', key: key ?? '' }]) }),
      build({ knownHosts: sshd.hostKeyLine.replace(`]:${sshd.port} `, ']:1 ') }),
      pushBuild(),
    ]);
  }, 58_000);

  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts one build with a fresh builder and docker log; resolves when it has finished. */
  async function build(job: Partial<BuildJob>, env: Record<string, string> = {}) {
    const dockerLog = join(dir, `docker-${newId()}.jsonl`);
    const phases: string[] = [];
    let outcome: BuildOutcome | undefined;
    const builder = new LocalBuilder({
      root: home,
      vaultKeyFile,
      buildspecDir: join(ROOT, 'buildspecs'),
      projectRoot: ROOT,
      keepWorkDirs: true,
      env: { PATH: `${FAKE_DOCKER}${delimiter}${process.env.PATH}`, FAKE_DOCKER_LOG: dockerLog, ...env },
      onRunning: (_id, app, phase) => {
        expect(app).toBe(APP);
        phases.push(phase);
      },
      onFinished: (_id, _app, result) => {
        outcome = result;
      },
    });
    const buildId = newId();
    const started = await builder.start({
      buildId,
      app: APP,
      commit: second,
      ref: 'refs/heads/main',
      repoUrl: sshd.gitUrl,
      deployKeyCiphertext: ciphertext,
      knownHosts: `${sshd.hostKeyLine}\n`,
      imageRepository: REPOSITORY,
      dockerfile: 'Dockerfile',
      ...job,
    });
    await builder.whenIdle();
    const work = builder.workDir(buildId);
    const log = readFileSync(started.logLocation, 'utf8');
    const docker: DockerCall[] = existsSync(dockerLog)
      ? readFileSync(dockerLog, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as DockerCall)
      : [];
    return { buildId, started, outcome, phases, log, docker, work, checkout: join(work, 'checkout') };
  }

  function expectNoKeyAnywhere(log: string, work: string) {
    expect(log).not.toContain('PRIVATE KEY');
    for (const line of keyMaterial) expect(log).not.toContain(line);
    // The deploy key's 0700 folder lived in the build's TMPDIR; the finally block removed it.
    expect(readdirSync(join(work, 'tmp')).filter((name) => name.startsWith('slipway-key'))).toEqual([]);
  }

  it('fetches exactly the pushed commit and builds the Compose services with build:, exporting their digests', () => {
    const { buildId, started, outcome, phases, log, docker, work, checkout } = runs.compose;

    expect(started).toEqual({ ref: `local:${buildId}`, logLocation: join(home, 'builds', APP, `${buildId}.log`) });
    expect(outcome).toEqual({
      status: 'succeeded',
      images: {
        api: `sha256:${sha256(`${REPOSITORY}:api-${buildId}`)}`,
        web: `sha256:${sha256(`${REPOSITORY}:web-${buildId}`)}`,
      },
    });
    expect(phases).toEqual(['INSTALL', 'PRE_BUILD', 'BUILD', 'POST_BUILD']);

    // The pushed commit, alone (shallow): the first commit was never fetched.
    const git = (...args: string[]) => execFileSync('git', ['-C', checkout, ...args], { encoding: 'utf8' }).trim();
    expect(git('rev-parse', 'HEAD')).toBe(second);
    expect(git('rev-list', '--count', 'HEAD')).toBe('1');
    expect(() => git('cat-file', '-e', first)).toThrow();

    // docker: exactly the two services with build:, from the checkout, then their image ids.
    expect(docker.map((call) => call.argv.slice(0, 2).join(' '))).toEqual([
      'buildx build',
      'image inspect',
      'buildx build',
      'image inspect',
    ]);
    expect(docker.every((call) => call.cwd === checkout)).toBe(true);
    expect(docker[0]?.argv).toEqual([
      'buildx',
      'build',
      '--file',
      'api/Dockerfile.prod',
      '--tag',
      `${REPOSITORY}:api-${buildId}`,
      '--tag',
      `${REPOSITORY}:api-${second}`,
      '--label',
      `org.opencontainers.image.revision=${second}`,
      '--target',
      'prod',
      '--build-arg',
      'NODE_ENV=production',
      '--build-arg',
      'RELEASE=2',
      '--load',
      'api',
    ]);
    expect(docker[1]?.argv).toEqual(['image', 'inspect', '--format', '{{.Id}}', `${REPOSITORY}:api-${buildId}`]);
    expect(docker[2]?.argv).toEqual([
      'buildx',
      'build',
      '--file',
      'web/Dockerfile',
      '--tag',
      `${REPOSITORY}:web-${buildId}`,
      '--tag',
      `${REPOSITORY}:web-${second}`,
      '--label',
      `org.opencontainers.image.revision=${second}`,
      '--load',
      'web',
    ]);

    for (const step of [
      'validate',
      'tools',
      'deploy-key',
      'known-hosts',
      'fetch',
      'plan',
      'build-image api',
      'build-image web',
      'report',
    ]) {
      expect(log).toContain(`==> step: ${step}\n`);
    }
    expect(log).toContain(`checked out ${second}: add the compose services`);
    expect(log).toContain('deploy key removed');
    expect(log).toContain('[Container] ');
    expect(log).toMatch(/Phase complete: POST_BUILD State: SUCCEEDED\n.*Build SUCCEEDED\n$/);
    expectNoKeyAnywhere(log, work);
  });

  it('fetches an older commit by its sha and builds its single Dockerfile as `app`', () => {
    const { buildId, outcome, docker, checkout, log, work } = runs.single;

    expect(outcome).toEqual({ status: 'succeeded', images: { app: `sha256:${sha256(`${REPOSITORY}:${buildId}`)}` } });
    expect(execFileSync('git', ['-C', checkout, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(first);
    expect(existsSync(join(checkout, 'docker-compose.yml'))).toBe(false);
    expect(docker.map((call) => call.argv)).toEqual([
      [
        'buildx',
        'build',
        '--file',
        'Dockerfile',
        '--tag',
        `${REPOSITORY}:${buildId}`,
        '--tag',
        `${REPOSITORY}:${first}`,
        '--label',
        `org.opencontainers.image.revision=${first}`,
        '--load',
        '.',
      ],
      ['image', 'inspect', '--format', '{{.Id}}', `${REPOSITORY}:${buildId}`],
    ]);
    expectNoKeyAnywhere(log, work);
  });

  it('fails the build, naming the step, when building an image fails', () => {
    const { outcome, docker, log, phases, work } = runs.failing;

    expect(outcome).toEqual({
      status: 'failed',
      images: {},
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the buildspec's shell text, as written
      reason: 'build-image web: docker "${build[@]}" "$context"',
    });
    expect(docker.map((call) => call.argv.at(-1))).toEqual(['api', expect.stringMatching(/:api-/), 'web']);
    expect(log).toContain('fake docker: failing on purpose');
    expect(log).toContain('Phase complete: BUILD State: FAILED');
    expect(log).not.toContain('==> step: report');
    expect(phases).toEqual(['INSTALL', 'PRE_BUILD', 'BUILD']);
    expectNoKeyAnywhere(log, work);
  });

  it('fails in the fetch step, before anything is cloned, when the pinned host key is not the server’s', () => {
    const { outcome, docker, log, phases, checkout, work } = runs.wrongKey;

    expect(outcome?.status).toBe('failed');
    expect(outcome?.reason).toBe(
      'fetch: git fetch --depth 1 --no-tags --no-recurse-submodules origin "$SLIPWAY_COMMIT"',
    );
    expect(log).toContain('Host key verification failed');
    expect(docker).toEqual([]);
    expect(phases).toEqual(['INSTALL', 'PRE_BUILD']);
    // Nothing of the repository arrived: no commit, no files, no objects.
    expect(readdirSync(checkout)).toEqual(['.git']);
    expect(() => execFileSync('git', ['-C', checkout, 'rev-parse', '--verify', 'HEAD'], { stdio: 'pipe' })).toThrow();
    expect(execFileSync('git', ['-C', checkout, 'count-objects'], { encoding: 'utf8' })).toMatch(/^0 objects/);
    expect(log).toContain('deploy key removed');
    expectNoKeyAnywhere(log, work);
  });

  it('fails in the known-hosts step when nothing is pinned for the repository host', () => {
    const { outcome, docker, log } = runs.unpinned;

    expect(outcome?.reason).toMatch(/^known-hosts: ssh-keygen -F /);
    expect(log).toContain(`the pinned known_hosts has no key for [127.0.0.1]:${sshd.port}`);
    expect(docker).toEqual([]);
  });

  /** Runs the buildspec as CodeBuild would on AWS (SLIPWAY_PUSH=true), with no registry to log in to. */
  async function pushBuild(options: { existingTags?: string[]; name?: string } = {}) {
    const name = options.name ?? 'push';
    // A stand-in `aws` CLI: `ecr describe-images` finds exactly the tags given (ECR's immutable tags).
    const awsBin = join(dir, `${name}-aws-bin`);
    mkdirSync(awsBin, { recursive: true });
    writeFileSync(
      join(awsBin, 'aws'),
      [
        '#!/usr/bin/env bash',
        'printf "%s\\n" "$*" >> "$FAKE_AWS_LOG"',
        'if [ "$1 $2" = "ecr describe-images" ]; then',
        '  for tag in $FAKE_AWS_EXISTING_TAGS; do [[ " $* " == *" imageTag=$tag "* ]] && { echo "{}"; exit 0; }; done',
        '  echo "ImageNotFoundException" >&2; exit 254',
        'fi',
        'echo "{}"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const tools = join(dir, `${name}-tools`);
    const [, localDecrypt] = await bundleTools(tools, ['plan-images.mjs', 'local-decrypt.mjs'], { projectRoot: ROOT });
    const work = join(dir, `${name}-work`);
    mkdirSync(join(work, 'tmp'), { recursive: true });
    const dockerLog = join(dir, `docker-${name}.jsonl`);
    const buildId = newId();
    const result = await runBuildspec({
      buildspec: join(ROOT, 'buildspecs/build.yml'),
      cwd: work,
      logFile: join(work, 'build.log'),
      env: {
        PATH: `${FAKE_DOCKER}${delimiter}${awsBin}${delimiter}${process.env.PATH}`,
        FAKE_DOCKER_LOG: dockerLog,
        FAKE_AWS_LOG: join(dir, `aws-${name}.log`),
        FAKE_AWS_EXISTING_TAGS: (options.existingTags ?? []).join(' '),
        AWS_REGION: 'eu-west-1',
        TMPDIR: join(work, 'tmp'),
        CODEBUILD_SRC_DIR: join(ROOT, 'buildspecs'),
        SLIPWAY_BUILD_ID: buildId,
        SLIPWAY_APP: APP,
        SLIPWAY_COMMIT: second,
        SLIPWAY_REF: 'refs/heads/main',
        SLIPWAY_REPO_URL: sshd.gitUrl,
        SLIPWAY_DEPLOY_KEY_CIPHERTEXT: ciphertext,
        SLIPWAY_KNOWN_HOSTS: sshd.hostKeyLine,
        SLIPWAY_IMAGE_REPOSITORY: REPOSITORY,
        SLIPWAY_TOOLS: tools,
        SLIPWAY_NODE: process.execPath,
        SLIPWAY_LOCAL_DECRYPT: `'${process.execPath}' '${localDecrypt}'`,
        SLIPWAY_VAULT_KEY_FILE: vaultKeyFile,
      },
    });

    const calls = readFileSync(dockerLog, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as DockerCall).argv);
    return { buildId, result, calls, work };
  }

  it('uses the registry cache, pushes, and reads the digests from the build metadata when pushing', () => {
    const { buildId, result, calls, work } = pushed;
    const tags = (service: string) => [`${REPOSITORY}:${service}-${buildId}`, `${REPOSITORY}:${service}-${second}`];
    expect(result.status).toBe('SUCCEEDED');
    expect(JSON.parse(result.exportedVariables.SLIPWAY_IMAGES ?? '')).toEqual({
      api: `sha256:${sha256(tags('api').join('\n'))}`,
      web: `sha256:${sha256(tags('web').join('\n'))}`,
    });
    expect(calls[0]).toEqual(['buildx', 'use', 'slipway']);
    const api = calls[1] ?? [];
    expect(api.slice(-8)).toEqual([
      '--cache-from',
      `type=registry,ref=${REPOSITORY}:cache-api`,
      '--cache-to',
      `type=registry,ref=${REPOSITORY}:cache-api,mode=max,image-manifest=true,oci-mediatypes=true`,
      '--metadata-file',
      join(work, 'out', 'api.metadata.json'),
      '--push',
      'api',
    ]);
    expect(calls.filter((argv) => argv[0] === 'image')).toEqual([]);
  });

  it('rebuilding a commit keeps its existing sha tag (immutable in ECR) and tags the new image by build id only', async () => {
    const again = await pushBuild({ name: 'rebuild', existingTags: [`api-${second}`] });
    expect(again.result.status).toBe('SUCCEEDED');
    const tagsOf = (service: string) => {
      const argv = again.calls.find((a) => a[0] === 'buildx' && a.at(-1) === service) ?? [];
      return argv.flatMap((arg, i) => (argv[i - 1] === '--tag' ? [arg] : []));
    };
    expect(tagsOf('api')).toEqual([`${REPOSITORY}:api-${again.buildId}`]);
    expect(tagsOf('web')).toEqual([`${REPOSITORY}:web-${again.buildId}`, `${REPOSITORY}:web-${second}`]);
    const asked = readFileSync(join(dir, 'aws-rebuild.log'), 'utf8');
    expect(asked).toContain(
      `ecr describe-images --region eu-west-1 --repository-name ${REPOSITORY.split('/').slice(1).join('/')} --image-ids imageTag=api-${second}`,
    );
  });
});

/** Replaces the served repository's history with two commits of ours; returns their shas. */
function pushHistory(work: string, bare: string): [string, string] {
  const env = {
    ...process.env,
    HOME: work,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Slipway Test',
    GIT_AUTHOR_EMAIL: 'test@slipway.invalid',
    GIT_COMMITTER_NAME: 'Slipway Test',
    GIT_COMMITTER_EMAIL: 'test@slipway.invalid',
  };
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: work, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const write = (path: string, content: string) => {
    mkdirSync(join(work, path, '..'), { recursive: true });
    writeFileSync(join(work, path), content);
  };
  mkdirSync(work, { recursive: true });
  git('init', '--quiet', '--initial-branch=main');
  write('README.md', '# shop\n');
  write('Dockerfile', 'FROM scratch\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'a Dockerfile');
  const first = git('rev-parse', 'HEAD');
  write(
    'docker-compose.yml',
    [
      'services:',
      '  api:',
      '    build:',
      '      context: ./api',
      '      dockerfile: Dockerfile.prod',
      '      target: prod',
      '      args:',
      '        NODE_ENV: production',
      '        RELEASE: 2',
      '  web:',
      '    build: ./web',
      '  db:',
      '    image: postgres:16',
      '',
    ].join('\n'),
  );
  write('api/Dockerfile.prod', 'FROM scratch AS prod\n');
  write('web/Dockerfile', 'FROM scratch\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'add the compose services');
  const second = git('rev-parse', 'HEAD');
  git('push', '--quiet', '--force', bare, 'main');
  return [first, second];
}
