import { appendFile } from 'node:fs/promises';
import type { Workflow } from '../../functions/domain/ports';

/**
 * A workflow that only records what it was asked to start (in a JSON-lines file when given):
 * for tests of the ingest path that must not start builds.
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
