import { type BuildDeps, startBuild } from '../../domain/builds';
import type { Workflow } from '../../domain/ports';

/**
 * Local mode's workflow until the release workflow lands: it starts the build (the first step
 * of the release) and stops there — no deploy yet. Like Step Functions' StartExecution, it
 * returns at once and the work goes on in the background; the build's record tells how it went.
 */
export class BuildOnlyWorkflow implements Workflow {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: BuildDeps,
    private readonly onError: (error: unknown, input: { app: string; build: string }) => void = () => undefined,
  ) {}

  async startRelease(input: { app: string; build: string }): Promise<string> {
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
