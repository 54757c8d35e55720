import { appendFile } from 'node:fs/promises';
import type { Workflow } from '../../domain/ports';

/**
 * The workflow port until the release workflow exists (issue "Release"): it records that a
 * release was requested for the build, and nothing more. The build stays `queued`; the
 * execution reference says so (`requested:<build>`), which is the honest state.
 * In local mode each request is also appended to a JSON-lines file in the state dir.
 */
export class RecordingWorkflow implements Workflow {
  constructor(private readonly journal?: string) {}

  async startRelease(input: { app: string; build: string }): Promise<string> {
    if (this.journal) {
      await appendFile(this.journal, `${JSON.stringify({ ...input, requestedAt: new Date().toISOString() })}\n`);
    }
    return `requested:${input.build}`;
  }
}
