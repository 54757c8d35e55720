import { type BuildDeps, startBuild } from '../../domain/builds';
import type { Workflow } from '../../domain/ports';

/**
 * The workflow until the release workflow lands: it starts the build (the first step of the
 * release) and stops there — no deploy yet. In local mode it returns at once, like Step
 * Functions' StartExecution, and the build is handed over in the background; in Lambda
 * (`waitForStart`) it returns once the builder has the build, since nothing runs after the
 * answer there. The build's record tells how it went.
 */
export class BuildOnlyWorkflow implements Workflow {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: BuildDeps,
    private readonly onError: (error: unknown, input: { app: string; build: string }) => void = () => undefined,
    private readonly options: { waitForStart?: boolean } = {},
  ) {}

  async startRelease(input: { app: string; build: string }): Promise<string> {
    if (this.options.waitForStart) {
      const build = await startBuild(this.deps, input.app, input.build);
      return `build-only:${build.builderRef ?? build.status}`;
    }
    const run = startBuild(this.deps, input.app, input.build)
      .then(() => undefined)
      .catch((error: unknown) => this.onError(error, input))
      .finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
    return `build-only:${input.build}`;
  }

  /** Resolves once every build start asked for so far has been handed to the builder. */
  async whenStarted(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
