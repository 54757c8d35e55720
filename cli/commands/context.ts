import type { Command } from 'commander';
import { type ApiTarget, resolveTarget } from '../api-client';

export interface GlobalOptions {
  json?: boolean;
  api?: string;
  apiToken?: string;
  apiTokenFile?: string;
  stack?: string;
}

/** The global options, wherever on the line they were given. */
export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

export function target(command: Command): Promise<ApiTarget> {
  return resolveTarget(globals(command));
}
