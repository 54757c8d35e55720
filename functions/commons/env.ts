/** Reads a required environment variable once; a missing one fails fast, naming it. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`missing required environment variable ${name}`);
  }
  return value;
}
