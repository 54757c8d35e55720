import { open } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { BuildLogs } from '../../domain/ports';

const CHUNK = 256 * 1024;

/**
 * Local mode's build logs: files under the state dir. The cursor is a byte offset; only whole
 * lines are returned, so a line being written is read once complete.
 */
export class FileBuildLogs implements BuildLogs {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async read(logLocation: string, cursor?: string): Promise<{ lines: string[]; cursor: string }> {
    const file = resolve(logLocation);
    if (!file.startsWith(this.root + sep)) throw new Error(`log ${logLocation} is outside ${this.root}`);
    const offset = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new Error('invalid log cursor');
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], cursor: String(offset) };
      throw error;
    }
    try {
      const buffer = Buffer.alloc(CHUNK);
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, offset);
      const text = buffer.subarray(0, bytesRead);
      const end = text.lastIndexOf(10);
      if (end < 0) return { lines: [], cursor: String(offset) };
      const lines = text.subarray(0, end).toString('utf8').split('\n');
      return { lines, cursor: String(offset + end + 1) };
    } finally {
      await handle.close();
    }
  }
}
