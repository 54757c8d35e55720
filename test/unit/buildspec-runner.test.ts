import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBuildspec, runBuildspec } from '../../functions/adapters/builder/buildspec-runner';
import { outcomeOf } from '../../functions/adapters/builder/local-builder';

describe('the local buildspec runner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-runner-'));
  let n = 0;

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `yaml` as a buildspec in a fresh folder and runs it there. */
  async function run(
    yaml: string,
    options: { env?: Record<string, string>; timeoutMs?: number; requires?: string[]; signal?: AbortSignal } = {},
  ) {
    const case_ = join(dir, `case-${++n}`);
    mkdirSync(case_);
    writeFileSync(join(case_, 'buildspec.yml'), yaml);
    const phases: string[] = [];
    const lines: string[] = [];
    const result = await runBuildspec({
      buildspec: join(case_, 'buildspec.yml'),
      env: options.env ?? {},
      cwd: case_,
      logFile: join(case_, 'logs', 'build.log'),
      requires: options.requires ?? [],
      onPhase: (phase) => phases.push(phase),
      onLine: (line) => lines.push(line),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const log = readFileSync(join(case_, 'logs', 'build.log'), 'utf8');
    const output = log.split('\n').filter((line) => line !== '' && !line.startsWith('[Container]'));
    return { result, phases, lines, log, output, dir: case_ };
  }

  it('runs the phases in order, in one shell: variables, exports and the folder carry over', async () => {
    const { result, phases, output } = await run(
      `
version: 0.2
env:
  variables:
    GREETING: from-buildspec
    OVERRIDDEN: from-buildspec
phases:
  build:
    commands:
      - echo "build sees $PLAIN $EXPORTED $(basename "$PWD") $GREETING $OVERRIDDEN"
      - echo "same session $$" | sed 's/[0-9]*$/pid/'
  install:
    commands:
      - echo install
      - PLAIN=plain-value
      - export EXPORTED=exported-value
      - mkdir -p sub && cd sub
  pre_build:
    commands:
      - echo "pre_build in $(basename "$PWD")"
      - bash -c 'echo "child process sees $PLAIN"'
  post_build:
    commands:
      - echo post_build
`,
      { env: { OVERRIDDEN: 'from-run' } },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(phases).toEqual(['INSTALL', 'PRE_BUILD', 'BUILD', 'POST_BUILD']);
    expect(output).toEqual([
      'install',
      'pre_build in sub',
      'child process sees plain-value',
      'build sees plain-value exported-value sub from-buildspec from-run',
      'same session pid',
      'post_build',
    ]);
  });

  it('keeps $$ the same across phases (one bash process) and lets exit and set -e end only their command', async () => {
    const { result, output } = await run(`
version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - echo "pid $$" > pid-install
      - exit 0
      - set -e; false; echo never
  build:
    commands:
      - echo "pid $$" > pid-build
      - false; echo "set -e did not carry over"
`);
    expect(result.status).toBe('FAILED');
    expect(result.failedPhase).toBe('INSTALL');
    expect(output).toEqual(['set -e did not carry over']);
  });

  it('logs CodeBuild-style lines, with stdout and stderr in order, and output without a final newline', async () => {
    const { result, log, lines } = await run(`
version: 0.2
phases:
  build:
    commands:
      - echo one; echo two >&2; echo three
      - printf 'no newline'
      - printf 'a\\n\\nb\\n\\n'
`);
    expect(result.status).toBe('SUCCEEDED');
    expect(log).toMatch(/^\[Container\] \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3} Entering phase BUILD$/m);
    expect(log).toMatch(/\[Container\] .* Running command echo one; echo two >&2; echo three\none\ntwo\nthree\n/);
    expect(log).toContain("Running command printf 'no newline'\nno newline\n[Container]");
    expect(log).toMatch(/\na\n\nb\n\n\[Container\] .* Phase complete: BUILD State: SUCCEEDED\n/);
    expect(lines).toEqual(log.trimEnd().split('\n'));
  });

  it('stops a phase at the first failing command, runs its finally, and (ABORT) skips every later phase', async () => {
    const { result, output, phases, log } = await run(`
version: 0.2
phases:
  install:
    commands:
      - echo installed
  pre_build:
    on-failure: ABORT
    commands:
      - 'echo "==> step: fetch"'
      - git-that-does-not-exist fetch origin
      - echo skipped
    finally:
      - echo cleanup
      - echo second cleanup
  build:
    commands:
      - echo never built
  post_build:
    commands:
      - echo never post
`);
    expect(result).toMatchObject({
      status: 'FAILED',
      failedPhase: 'PRE_BUILD',
      failedCommand: 'git-that-does-not-exist fetch origin',
      failedStep: 'fetch',
    });
    expect(result.failedSimpleCommand).toBeUndefined();
    expect(output).toEqual([
      'installed',
      '==> step: fetch',
      expect.stringMatching(/git-that-does-not-exist: command not found/),
      'cleanup',
      'second cleanup',
    ]);
    expect(phases).toEqual(['INSTALL', 'PRE_BUILD']);
    expect(log).toContain('Command did not exit successfully git-that-does-not-exist fetch origin exit status 127');
    expect(log).toContain('Phase complete: PRE_BUILD State: FAILED');
    expect(log).toContain(
      'Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: git-that-does-not-exist fetch origin. Reason: exit status 127',
    );
    expect(log).toMatch(/Build FAILED\n$/);
  });

  it("keeps the failing command's own `==> error: …` line as the failure's message (the buildspec's words, not its shell text)", async () => {
    const { result, output } = await run(`
version: 0.2
phases:
  pre_build:
    commands:
      - 'echo "==> step: fetch"'
      - 'echo "==> error: not this one: its command succeeded"'
      - |
        ref=refs/heads/main
        if ! false; then
          echo "==> error: commit abc is not on $ref" >&2
          echo "more output after it"
          exit 1
        fi
`);
    expect(result).toMatchObject({
      status: 'FAILED',
      failedPhase: 'PRE_BUILD',
      failedStep: 'fetch',
      failedMessage: 'commit abc is not on refs/heads/main',
    });
    expect(output).toContain('==> error: commit abc is not on refs/heads/main');

    // A failure that says nothing of itself has no message.
    const quiet = await run(
      'version: 0.2\nphases:\n  build:\n    commands:\n      - \'echo "==> error: old"\'\n      - exit 3\n',
    );
    expect(quiet.result.status).toBe('FAILED');
    expect(quiet.result.failedMessage).toBeUndefined();
  });

  it('follows the phase transitions without on-failure: a failed build still runs post_build, a failed install does not', async () => {
    const build = await run(`
version: 0.2
phases:
  build:
    commands:
      - exit 3
  post_build:
    commands:
      - echo "post_build runs, succeeding=$CODEBUILD_BUILD_SUCCEEDING"
`);
    expect(build.result).toMatchObject({ status: 'FAILED', failedPhase: 'BUILD', failedCommand: 'exit 3' });
    expect(build.output).toEqual(['post_build runs, succeeding=0']);

    const install = await run(`
version: 0.2
phases:
  install:
    commands:
      - "false"
  build:
    commands:
      - echo never
  post_build:
    commands:
      - echo never
`);
    expect(install.result).toMatchObject({ status: 'FAILED', failedPhase: 'INSTALL', failedCommand: 'false' });
    expect(install.phases).toEqual(['INSTALL']);
    expect(install.output).toEqual([]);
  });

  it('goes on after a failed phase with on-failure CONTINUE, and fails the build all the same', async () => {
    const { result, output, phases } = await run(`
version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - "false"
  pre_build:
    commands:
      - echo "pre_build runs, succeeding=$CODEBUILD_BUILD_SUCCEEDING"
`);
    expect(result).toMatchObject({ status: 'FAILED', failedPhase: 'INSTALL' });
    expect(phases).toEqual(['INSTALL', 'PRE_BUILD']);
    expect(output).toEqual(['pre_build runs, succeeding=0']);
  });

  it('fails a phase whose finally fails, and names the simple command that failed inside a multi-line command', async () => {
    const finallyFails = await run(`
version: 0.2
phases:
  build:
    commands:
      - echo fine
    finally:
      - exit 4
`);
    expect(finallyFails.result).toMatchObject({ status: 'FAILED', failedPhase: 'BUILD', failedCommand: 'exit 4' });

    const multi = await run(`
version: 0.2
phases:
  build:
    commands:
      - |
        set -euo pipefail
        echo "==> step: build-image web"
        ls /no/such/folder/here
        echo never
`);
    expect(multi.result).toMatchObject({
      status: 'FAILED',
      failedStep: 'build-image web',
      failedSimpleCommand: 'ls /no/such/folder/here',
    });
    expect(multi.result.failedCommand).toMatch(/^set -euo pipefail\n/);
  });

  it('reads the exported variables at the end, also when set in an earlier phase', async () => {
    const { result } = await run(`
version: 0.2
env:
  exported-variables:
    - IMAGES
    - TAG
    - NEVER_SET
phases:
  install:
    commands:
      - TAG=v1
  build:
    commands:
      - IMAGES='{"web":"sha256:abc"}'
      - 'MULTI="line one
        line two"'
`);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.exportedVariables).toEqual({ IMAGES: '{"web":"sha256:abc"}', TAG: 'v1' });
  });

  it('forgets variables a command unsets', async () => {
    const { output } = await run(`
version: 0.2
phases:
  build:
    commands:
      - export GONE=here
      - unset GONE
      - echo "gone=\${GONE-unset}"
`);
    expect(output).toEqual(['gone=unset']);
  });

  it('kills the whole process group when the time is up', async () => {
    const started = Date.now();
    const {
      result,
      dir: caseDir,
      log,
    } = await run(
      `
version: 0.2
phases:
  build:
    commands:
      - sleep 30 & echo $! > sleeper.pid; wait
  post_build:
    commands:
      - echo never
`,
      { timeoutMs: 700 },
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result).toMatchObject({ status: 'FAILED', timedOut: true, failedPhase: 'BUILD' });
    expect(result.error).toMatch(/timed out/);
    expect(log).toContain('Phase complete: BUILD State: TIMED_OUT');
    const pid = Number(readFileSync(join(caseDir, 'sleeper.pid'), 'utf8'));
    expect(await goneSoon(pid)).toBe(true);
  });

  it('stops when told (a superseded build): the process group is killed, the build fails saying why', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort('superseded by build 01NEWER'), 500);
    const started = Date.now();
    const {
      result,
      dir: caseDir,
      log,
    } = await run(
      `
version: 0.2
phases:
  build:
    commands:
      - sleep 30 & echo $! > sleeper.pid; wait
  post_build:
    commands:
      - echo never
`,
      { signal: controller.signal },
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result).toMatchObject({
      status: 'FAILED',
      failedPhase: 'BUILD',
      error: 'build stopped: superseded by build 01NEWER',
    });
    expect(result.timedOut).toBeUndefined();
    expect(log).not.toContain('never');
    const pid = Number(readFileSync(join(caseDir, 'sleeper.pid'), 'utf8'));
    expect(await goneSoon(pid)).toBe(true);
  });

  it('does not start at all when stopped before it starts', async () => {
    const controller = new AbortController();
    controller.abort('superseded');
    const { result, output } = await run(
      `
version: 0.2
phases:
  build:
    commands:
      - echo ran
`,
      { signal: controller.signal },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'build stopped: superseded' });
    expect(output).toEqual([]);
  });

  it('ends what a command left running in the background when the build ends', async () => {
    const { result, dir: caseDir } = await run(`
version: 0.2
phases:
  build:
    commands:
      - (sleep 30 >/dev/null 2>&1 &) ; sleep 30 & echo $! > sleeper.pid
`);
    expect(result.status).toBe('SUCCEEDED');
    const pid = Number(readFileSync(join(caseDir, 'sleeper.pid'), 'utf8'));
    expect(await goneSoon(pid)).toBe(true);
  });

  it('fails clearly when docker is not on PATH, before running anything', async () => {
    const { result, log, phases } = await run(
      `
version: 0.2
phases:
  build:
    commands:
      - touch ran
`,
      { requires: ['docker'], env: { PATH: join(dir, 'empty-bin') } },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'local builds need the docker CLI on PATH' });
    expect(log).toContain('local builds need the docker CLI on PATH');
    expect(phases).toEqual([]);
    expect(existsSync(join(dir, `case-${n}`, 'ran'))).toBe(false);
  });

  it('refuses malformed buildspecs and features only CodeBuild has', () => {
    expect(() => parseBuildspec('version: 0.1\nphases: {}')).toThrow(/version 0.2/);
    expect(() => parseBuildspec('version: 0.2\nphases:\n  deploy:\n    commands: [x]')).toThrow(/unknown phase deploy/);
    expect(() =>
      parseBuildspec('version: 0.2\nphases:\n  build:\n    commands:\n      - echo "a: b"\n      - echo a: b'),
    ).toThrow(/list of commands/);
    expect(() => parseBuildspec('version: 0.2\nenv:\n  secrets-manager:\n    X: y\nphases: {}')).toThrow(
      /not available/,
    );
    expect(() => parseBuildspec('version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n    commands: [x]')).toThrow(
      /ABORT or CONTINUE/,
    );
  });

  it('reports an unreadable buildspec as a failed build', async () => {
    const { result } = await run('version: 0.2\nphases: [');
    expect(result).toMatchObject({ status: 'FAILED', failedPhase: 'DOWNLOAD_SOURCE' });
    expect(result.error).toMatch(/not valid YAML/);
  });
});

/** Whether the process is gone (or a zombie) within 3 s: SIGKILL is delivered asynchronously. */
async function goneSoon(pid: number): Promise<boolean> {
  for (let waited = 0; waited < 3000; waited += 50) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

describe("the local builder's reading of a run", () => {
  const base = { exportedVariables: {}, durationMs: 1 };

  it('takes the digests from SLIPWAY_IMAGES, and fails a run that exported none or garbage', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(
      outcomeOf({ ...base, status: 'SUCCEEDED', exportedVariables: { SLIPWAY_IMAGES: `{"web":"${digest}"}` } }),
    ).toEqual({ status: 'succeeded', images: { web: digest } });
    for (const images of [undefined, '', '{}', '["x"]', '{"web":"latest"}', 'not json']) {
      const exportedVariables: Record<string, string> = images === undefined ? {} : { SLIPWAY_IMAGES: images };
      expect(outcomeOf({ ...base, status: 'SUCCEEDED', exportedVariables })).toEqual({
        status: 'failed',
        images: {},
        reason: 'the build exported no image digests (SLIPWAY_IMAGES)',
      });
    }
  });

  it('names the step (else the phase) and the command that failed', () => {
    expect(
      outcomeOf({
        ...base,
        status: 'FAILED',
        failedPhase: 'PRE_BUILD',
        failedStep: 'fetch',
        failedCommand: 'git fetch origin x',
      }),
    ).toEqual({ status: 'failed', images: {}, reason: 'fetch: git fetch origin x' });
    expect(
      outcomeOf({
        ...base,
        status: 'FAILED',
        failedPhase: 'BUILD',
        failedCommand: 'set -euo pipefail\n# build\ncd checkout\nmake',
      }),
    ).toEqual({ status: 'failed', images: {}, reason: 'build: cd checkout …' });
    expect(
      outcomeOf({
        ...base,
        status: 'FAILED',
        failedPhase: 'BUILD',
        failedStep: 'build-image api',
        failedCommand: 'set -e\nfor x in y; do docker build .; done',
        failedSimpleCommand: 'docker build .',
        error: 'build timed out after 60 s',
        timedOut: true,
      }),
    ).toEqual({ status: 'failed', images: {}, reason: 'build-image api: docker build . (build timed out after 60 s)' });
    expect(
      outcomeOf({
        ...base,
        status: 'FAILED',
        failedPhase: 'PROVISIONING',
        error: 'local builds need the docker CLI on PATH',
      }),
    ).toEqual({ status: 'failed', images: {}, reason: 'local builds need the docker CLI on PATH' });
  });

  it("says the failing command's own message, when it gave one, after the step", () => {
    expect(
      outcomeOf({
        ...base,
        status: 'FAILED',
        failedPhase: 'PRE_BUILD',
        failedStep: 'fetch',
        failedCommand: 'if ! on_ref; then … fi',
        failedMessage: `commit ${'a'.repeat(40)} is not on refs/heads/main`,
      }),
    ).toEqual({ status: 'failed', images: {}, reason: `fetch: commit ${'a'.repeat(40)} is not on refs/heads/main` });
  });
});
