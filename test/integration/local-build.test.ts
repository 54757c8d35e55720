import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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
/** moby/buildkit v0.33.1, the image index's digest (buildspecs/build.yml). */
const BUILDKIT_DIGEST = 'cec9f139f45e93c5c69c60f8b07cfad9f43f4ef6b6a6cd917527fea5ff2e3dea';
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
  /** The rest of the served history (see pushHistory). */
  let history: History;
  type Run = Awaited<ReturnType<typeof build>>;
  const runs: Record<
    | 'compose'
    | 'single'
    | 'failing'
    | 'wrongKey'
    | 'unpinned'
    | 'farBehind'
    | 'behind'
    | 'foreign'
    | 'mergeRequest'
    | 'tag'
    | 'bySha'
    | 'composeLink',
    Run
  > = {} as never;
  let pushed: Awaited<ReturnType<typeof pushBuild>>;

  beforeAll(async () => {
    ciphertext = await LocalVault.open(vaultKeyFile).encrypt(deployKey.privateKey, { purpose: 'deploy-key', app: APP });
    sshd = await startSshd({ authorizedKeys: [deployKey.publicKey] });
    history = pushHistory(join(dir, 'author'), sshd.repoPath);
    ({ first, second } = history);
    // What GitLab allows too: fetching any reachable commit by its sha, not only branch tips.
    execFileSync('git', ['--git-dir', sshd.repoPath, 'config', 'uploadpack.allowReachableSHA1InWant', 'true']);

    // The builds are independent: they run side by side (each its own builder, work dir and log).
    const [keyType, key] = generateDeployKey('an impostor').publicKey.split(' ');
    [
      runs.compose,
      runs.single,
      runs.failing,
      runs.wrongKey,
      runs.unpinned,
      runs.farBehind,
      runs.behind,
      runs.foreign,
      runs.mergeRequest,
      runs.tag,
      runs.bySha,
      runs.composeLink,
      pushed,
    ] = await Promise.all([
      build({}),
      build({ commit: first }),
      build({}, { FAKE_DOCKER_FAIL_ON: 'web' }),
      build({ knownHosts: knownHostsFor('127.0.0.1', sshd.port, [{ keyType: keyType ?? '', key: key ?? '' }]) }),
      build({ knownHosts: sshd.hostKeyLine.replace(`]:${sshd.port} `, ']:1 ') }),
      // 30 commits behind the tip of `long`, with a commit of a skewed clock in between.
      build({ commit: second, ref: 'refs/heads/long' }),
      // 20 commits behind the tip of `long`, after the skewed one.
      build({ commit: history.long[9] ?? '', ref: 'refs/heads/long' }),
      // A commit of another branch (dated after main's tip), pushed as main.
      build({ commit: history.elsewhere, ref: 'refs/heads/main' }),
      build({ commit: history.elsewhere, ref: 'refs/merge-requests/1/head' }),
      build({ commit: second, ref: 'refs/tags/v1' }),
      // A deploy by sha: the ref GitLab resolves a bare sha to is the sha itself.
      build({ commit: first, ref: first }),
      build({ commit: history.composeLink, ref: 'refs/heads/linked' }),
      pushBuild(),
    ]);
  }, 90_000);

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

  /** Commits of the checkout's repository, every ref and HEAD's history counted. */
  const fetchedCommits = (checkout: string) =>
    Number(execFileSync('git', ['-C', checkout, 'rev-list', '--count', '--all'], { encoding: 'utf8' }).trim());

  it('checks that the pushed commit is on the pushed ref, fetching the ref only as far back as the commit’s date', () => {
    const { outcome, log, checkout } = runs.compose;
    expect(outcome?.status).toBe('succeeded');
    expect(log).toContain(`commit ${second} is on refs/heads/main\n`);
    // The tip of main is the commit: nothing more was fetched.
    expect(fetchedCommits(checkout)).toBe(1);

    // 20 commits behind the tip: the ref's history since the commit's date, not all of it.
    const behind = runs.behind;
    expect(behind.outcome?.status).toBe('succeeded');
    expect(behind.log).toContain(`commit ${history.long[9]} is on refs/heads/long\n`);
    expect(behind.log).not.toContain('fetching all of refs/heads/long');
    expect(fetchedCommits(behind.checkout)).toBe(21);
    expect(execFileSync('git', ['-C', behind.checkout, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(
      history.long[9],
    );
  });

  it('builds a commit 30 commits behind the tip of its branch, also across a commit dated before it (clocks skew)', () => {
    const { outcome, log, checkout, docker } = runs.farBehind;
    expect(outcome).toMatchObject({
      status: 'succeeded',
      images: { api: expect.any(String), web: expect.any(String) },
    });
    // The date cut missed it (a commit on the way is dated before it): the whole branch, then yes.
    expect(log).toContain("the history of refs/heads/long since the commit's date does not reach it");
    expect(log).toContain(`commit ${second} is on refs/heads/long\n`);
    expect(execFileSync('git', ['-C', checkout, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(second);
    expect(docker.filter((call) => call.argv[1] === 'build')).toHaveLength(2);
  });

  it('fails in the fetch step, naming the commit and the ref, when a commit of another branch is pushed as main', () => {
    const { outcome, log, docker, phases, work } = runs.foreign;
    const message = `commit ${history.elsewhere} is not on refs/heads/main: only commits of the pushed branch or tag are built`;
    expect(outcome).toEqual({ status: 'failed', images: {}, reason: `fetch: ${message}` });
    expect(log).toContain(`==> error: ${message}\n`);
    expect(
      log.split('\n').filter((line) => line.includes(history.elsewhere) && line.includes('refs/heads/main')),
    ).toEqual(expect.arrayContaining([`==> error: ${message}`]));
    expect(docker).toEqual([]);
    expect(phases).toEqual(['INSTALL', 'PRE_BUILD']);
    expect(log).toContain('deploy key removed');
    expectNoKeyAnywhere(log, work);
  });

  it("never builds a merge request's head: only branches, tags or (a deploy by sha) the commit itself", () => {
    const { outcome, log, docker } = runs.mergeRequest;
    expect(outcome).toEqual({
      status: 'failed',
      images: {},
      reason:
        'validate: invalid build input: SLIPWAY_REF must be refs/heads/<branch>, refs/tags/<tag> or the commit itself, not refs/merge-requests/1/head',
    });
    expect(log).not.toContain('==> step: fetch');
    expect(docker).toEqual([]);
  });

  it('builds a tag (annotated) whose commit it is, and a deploy by sha with nothing to check it against', () => {
    expect(runs.tag.outcome?.status).toBe('succeeded');
    expect(runs.tag.log).toContain(`commit ${second} is on refs/tags/v1\n`);

    const bySha = runs.bySha;
    expect(bySha.outcome).toEqual({ status: 'succeeded', images: { app: expect.stringMatching(/^sha256:/) } });
    expect(bySha.log).toContain('the ref is the commit itself (a deploy by sha): no branch or tag to check it against');
    expect(fetchedCommits(bySha.checkout)).toBe(1);
  });

  /** Runs the buildspec as CodeBuild would on AWS (SLIPWAY_PUSH=true), with no registry to log in to. */
  async function pushBuild(options: { existingTags?: string[]; name?: string; env?: Record<string, string> } = {}) {
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
        ...options.env,
      },
    });

    const calls = existsSync(dockerLog)
      ? readFileSync(dockerLog, 'utf8')
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as DockerCall).argv)
      : [];
    return { buildId, result, calls, work, log: readFileSync(join(work, 'build.log'), 'utf8') };
  }

  it('fails in the plan step when the Compose file is a symbolic link out of the checkout', () => {
    const { outcome, docker, log } = runs.composeLink;
    expect(outcome).toEqual({
      status: 'failed',
      images: {},
      reason: 'plan: Compose file compose.yaml is outside the repository',
    });
    expect(log).not.toContain('root:x:0:0');
    expect(docker).toEqual([]);
  });

  it('uses the registry cache, pushes, and reads the digests from the build metadata when pushing', () => {
    const { buildId, result, calls, work } = pushed;
    const tags = (service: string) => [`${REPOSITORY}:${service}-${buildId}`, `${REPOSITORY}:${service}-${second}`];
    expect(result.status).toBe('SUCCEEDED');
    expect(JSON.parse(result.exportedVariables.SLIPWAY_IMAGES ?? '')).toEqual({
      api: `sha256:${sha256(tags('api').join('\n'))}`,
      web: `sha256:${sha256(tags('web').join('\n'))}`,
    });
    // The BuildKit builder runs the image pinned by digest (a fresh builder: `use` finds none).
    expect(calls.slice(0, 2)).toEqual([
      ['buildx', 'use', `slipway-buildkit-${BUILDKIT_DIGEST.slice(0, 12)}`],
      [
        'buildx',
        'create',
        '--name',
        `slipway-buildkit-${BUILDKIT_DIGEST.slice(0, 12)}`,
        '--driver',
        'docker-container',
        '--driver-opt',
        `image=moby/buildkit:v0.33.1@sha256:${BUILDKIT_DIGEST}`,
        '--use',
        '--bootstrap',
      ],
    ]);
    const api = calls[2] ?? [];
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

  it('runs BuildKit from the image SLIPWAY_BUILDKIT_IMAGE names, and refuses one not pinned by digest', async () => {
    const digest = 'b'.repeat(64);
    const mirrored = await pushBuild({
      name: 'buildkit-mirror',
      env: {
        SLIPWAY_BUILDKIT_IMAGE: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/buildkit:v0.33.1@sha256:${digest}`,
      },
    });
    expect(mirrored.result.status).toBe('SUCCEEDED');
    expect(mirrored.calls.find((argv) => argv[1] === 'create')).toEqual(
      expect.arrayContaining([
        `slipway-buildkit-${digest.slice(0, 12)}`,
        '--driver-opt',
        `image=123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/buildkit:v0.33.1@sha256:${digest}`,
      ]),
    );

    for (const image of [
      'moby/buildkit:v0.33.1',
      'moby/buildkit:latest@sha256:abc',
      `moby/buildkit@sha256:${digest} --x`,
    ]) {
      const unpinned = await pushBuild({ name: `buildkit-${newId()}`, env: { SLIPWAY_BUILDKIT_IMAGE: image } });
      expect(unpinned.result).toMatchObject({ status: 'FAILED', failedPhase: 'INSTALL', failedStep: 'validate' });
      expect(unpinned.log).toContain(
        'invalid build input: SLIPWAY_BUILDKIT_IMAGE must be an image pinned by digest (name[:tag]@sha256:<64 hex>)',
      );
      expect(unpinned.calls).toEqual([]);
    }
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

interface History {
  /** main: a Dockerfile (first), then the Compose file and its services (second, the tip). */
  first: string;
  second: string;
  /** Branch `long`: second, then these 30 commits; the 5th is dated a year before the others (a skewed clock). */
  long: string[];
  /** Branch `feature` off first, dated after everything on main; also `refs/merge-requests/1/head`. */
  elsewhere: string;
  /** Branch `linked`: second, with compose.yaml a symbolic link to /etc/passwd. */
  composeLink: string;
}

/**
 * Replaces the served repository's history with ours (each commit a minute after the one
 * before, unless said otherwise) and tags `second` as `v1` (annotated).
 */
function pushHistory(work: string, bare: string): History {
  const T = 1_700_000_000;
  let date = T;
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
    execFileSync('git', args, {
      cwd: work,
      env: { ...env, GIT_AUTHOR_DATE: `@${date} +0000`, GIT_COMMITTER_DATE: `@${date} +0000` },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
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
  date += 60;
  git('commit', '--quiet', '-m', 'add the compose services');
  const second = git('rev-parse', 'HEAD');
  git('tag', '--annotate', '-m', 'release 1', 'v1');

  git('checkout', '--quiet', '-b', 'long');
  const long: string[] = [];
  for (let n = 1; n <= 30; n += 1) {
    date += 60;
    write('CHANGES.md', `change ${n}\n`);
    git('add', '.');
    if (n === 5) {
      const real = date;
      date = T - 365 * 86_400;
      git('commit', '--quiet', '-m', `change ${n} (a skewed clock)`);
      date = real;
    } else {
      git('commit', '--quiet', '-m', `change ${n}`);
    }
    long.push(git('rev-parse', 'HEAD'));
  }

  git('checkout', '--quiet', '-b', 'feature', first);
  date = T + 100_000;
  write('FEATURE.md', 'not on main\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'a feature, not merged');
  const elsewhere = git('rev-parse', 'HEAD');

  git('checkout', '--quiet', '-b', 'linked', second);
  date = T + 200;
  symlinkSync('/etc/passwd', join(work, 'compose.yaml'));
  git('add', '.');
  git('commit', '--quiet', '-m', 'a Compose file from elsewhere');
  const composeLink = git('rev-parse', 'HEAD');

  git(
    'push',
    '--quiet',
    '--force',
    bare,
    'main',
    'long',
    'feature',
    'linked',
    'refs/tags/v1',
    'feature:refs/merge-requests/1/head',
  );
  return { first, second, long, elsewhere, composeLink };
}
