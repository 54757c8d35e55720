import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The repository root: the nearest folder with Slipway's package.json above the working
 * directory, else above the running script (`slipway local` started from elsewhere). Modules
 * here run as ESM under tsx and as CommonJS under Jest, so neither __dirname nor import.meta.
 */
export function findProjectRoot(): string {
  const starts = [process.cwd(), process.argv[1] ? dirname(resolve(process.argv[1])) : undefined];
  for (const start of starts) {
    if (!start) continue;
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      const manifest = join(dir, 'package.json');
      if (existsSync(manifest) && isSlipway(manifest)) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(`cannot find the Slipway repository above ${process.cwd()}: run from inside it`);
}

function isSlipway(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'slipway';
  } catch {
    return false;
  }
}
