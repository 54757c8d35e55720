import { type BuildDeps, startBuild } from '../../domain/builds';
import type { Workflow } from '../../domain/ports';

/**
 * Local mode's workflow until the release workflow lands: it starts the build (the first step
 * of the release) and stops there — no deploy yet. The build's own record tells how it went.
 */
export class BuildOnlyWorkflow implements Workflow {
  constructor(private readonly deps: BuildDeps) {}

  async startRelease(input: { app: string; build: string }): Promise<string> {
    const build = await startBuild(this.deps, input.app, input.build);
    return `build-only:${build.builderRef ?? build.status}`;
  }
}
