import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse } from 'yaml';

/**
 * One image a build makes. Paths are relative to the repository root, with `/` separators,
 * so the buildspec runs `docker buildx build --file <dockerfile> … <context>` from the root.
 */
export interface ImagePlan {
  /** Compose service name, or `app` for a single Dockerfile. */
  service: string;
  /** Build context directory (`.` for the root). */
  context: string;
  /** Dockerfile path. */
  dockerfile: string;
  /** Build arguments (`--build-arg K=V`). */
  args: Record<string, string>;
  /** Build stage (`--target`). */
  target?: string;
}

export interface BuildPlan {
  /** Where the images came from: a Compose file, or the app's Dockerfile. */
  source: 'compose' | 'dockerfile';
  /** The Compose file used (relative to the root), when `source` is `compose`. */
  composeFile?: string;
  images: ImagePlan[];
}

/** A repository whose images cannot be planned; the message says why and names the file. */
export class PlanError extends Error {
  override name = 'PlanError';
}

/** Compose's own order of preference when no `-f` is given (compose-go `DefaultFileNames`). */
export const COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'] as const;

/** Compose service names; also what fits in an image tag (`<service>-<sha>`). */
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const TARGET = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The images to build for the repository checked out at `repoDir`: one per Compose service
 * with a `build:` when the repository has a Compose file, else the single `dockerfile`
 * (key `app`). Throws PlanError when the plan would leave the repository or names what is
 * not there.
 */
export function planImages(repoDir: string, dockerfile: string): ImagePlan[] {
  return planBuild(repoDir, dockerfile).images;
}

/** As planImages, saying also where the plan came from. */
export function planBuild(repoDir: string, dockerfile: string): BuildPlan {
  const root = realDir(repoDir, `repository ${repoDir}`);
  // lstat, not exists: a link to nothing is still the Compose file Compose would pick, and is refused.
  const composeFile = COMPOSE_FILES.find((name) => lstatSync(join(root, name), { throwIfNoEntry: false }));
  if (composeFile) {
    const images = planCompose(root, composeFile, composePath(root, composeFile));
    if (images.length > 0) return { source: 'compose', composeFile, images };
    if (!existsSync(join(root, dockerfile))) {
      throw new PlanError(`${composeFile} has no service with a build: section, and there is no ${dockerfile}`);
    }
  }
  return { source: 'dockerfile', images: [planDockerfile(root, dockerfile)] };
}

/**
 * The plan for bash to read with `read -r -d ''` (no jq in the build image needed):
 * `source NUL count NUL`, then per image `service NUL context NUL dockerfile NUL target NUL
 * nargs NUL` followed by `nargs` fields `K=V NUL`.
 */
export function nulRecords(plan: BuildPlan): string {
  const fields: string[] = [plan.source, String(plan.images.length)];
  for (const image of plan.images) {
    const args = Object.entries(image.args).map(([name, value]) => `${name}=${value}`);
    fields.push(image.service, image.context, image.dockerfile, image.target ?? '', String(args.length), ...args);
  }
  if (fields.some((field) => field.includes('\0'))) throw new PlanError('a build setting contains a NUL character');
  return fields.map((field) => `${field}\0`).join('');
}

function planDockerfile(root: string, dockerfile: string): ImagePlan {
  const file = inside(root, resolve(root, dockerfile), `Dockerfile ${dockerfile}`);
  if (!file.exists) {
    throw new PlanError(
      `no ${dockerfile} in the repository, and no Compose file (${COMPOSE_FILES.join(', ')}): nothing to build`,
    );
  }
  if (!statSync(file.real).isFile()) throw new PlanError(`Dockerfile ${dockerfile} is not a file`);
  return { service: 'app', context: '.', dockerfile: file.relative, args: {} };
}

/**
 * The Compose file's real path, checked as Dockerfiles and contexts are: it must stay inside
 * the repository through any symbolic link (a link to /etc or to the build's deploy key would
 * otherwise be read as the app's Compose file), and be a file.
 */
function composePath(root: string, composeFile: string): string {
  const what = `Compose file ${composeFile}`;
  const file = inside(root, join(root, composeFile), what);
  if (!file.exists) throw new PlanError(`${what} is a symbolic link to nothing in the repository`);
  if (!statSync(file.real).isFile()) throw new PlanError(`${what} is not a file`);
  return file.real;
}

function planCompose(root: string, composeFile: string, path: string): ImagePlan[] {
  let document: unknown;
  try {
    document = parse(readFileSync(path, 'utf8'), { merge: true });
  } catch (error) {
    throw new PlanError(`${composeFile} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!isMap(document)) throw new PlanError(`${composeFile} is not a Compose file (expected a mapping)`);
  const services = document.services;
  if (services === undefined || services === null) return [];
  if (!isMap(services)) throw new PlanError(`${composeFile}: services must be a mapping`);

  const images: ImagePlan[] = [];
  for (const [service, definition] of Object.entries(services)) {
    const where = `${composeFile}: service ${service}`;
    if (definition === null || definition === undefined) continue;
    if (!isMap(definition)) throw new PlanError(`${where} must be a mapping`);
    const build = definition.build;
    if (build === undefined || build === null) continue;
    if (!SERVICE_NAME.test(service)) {
      throw new PlanError(`${where}: service names that Slipway builds must match ${SERVICE_NAME} (they become tags)`);
    }
    images.push(planService(root, service, build, where));
  }
  return images;
}

function planService(root: string, service: string, build: unknown, where: string): ImagePlan {
  let contextValue: unknown = '.';
  let dockerfileValue: unknown = 'Dockerfile';
  let argsValue: unknown;
  let targetValue: unknown;
  if (typeof build === 'string') {
    contextValue = build;
  } else if (isMap(build)) {
    if (build.dockerfile_inline !== undefined)
      throw new PlanError(`${where}: build.dockerfile_inline is not supported`);
    contextValue = build.context ?? '.';
    dockerfileValue = build.dockerfile ?? 'Dockerfile';
    argsValue = build.args;
    targetValue = build.target;
  } else {
    throw new PlanError(`${where}: build must be a context path or a mapping`);
  }

  const contextText = setting(contextValue, `${where}: build.context`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(contextText) || /^git@/.test(contextText)) {
    throw new PlanError(
      `${where}: remote build contexts (${contextText}) are not supported; use a folder in the repository`,
    );
  }
  const context = inside(root, resolve(root, contextText), `${where}: build context ${contextText}`);
  if (!context.exists || !statSync(context.real).isDirectory()) {
    throw new PlanError(`${where}: build context ${contextText} is not a folder in the repository`);
  }

  const dockerfileText = setting(dockerfileValue, `${where}: build.dockerfile`);
  const dockerfile = inside(root, resolve(context.real, dockerfileText), `${where}: Dockerfile ${dockerfileText}`);
  if (!dockerfile.exists || !statSync(dockerfile.real).isFile()) {
    throw new PlanError(`${where}: no Dockerfile ${dockerfileText} in build context ${contextText}`);
  }

  const plan: ImagePlan = {
    service,
    context: context.relative,
    dockerfile: dockerfile.relative,
    args: buildArgs(argsValue, where),
  };
  if (targetValue !== undefined && targetValue !== null) {
    const target = setting(targetValue, `${where}: build.target`);
    if (!TARGET.test(target))
      throw new PlanError(`${where}: build.target ${JSON.stringify(target)} is not a stage name`);
    plan.target = target;
  }
  return plan;
}

/**
 * `args` as a map (`K: V`) or a list (`K=V`). An argument without a value takes its value from
 * the environment in Compose; a build has no such environment, so it is left out (the
 * Dockerfile's default applies).
 */
function buildArgs(value: unknown, where: string): Record<string, string> {
  const args: Record<string, string> = {};
  const add = (name: string, raw: unknown) => {
    if (!ARG_NAME.test(name)) throw new PlanError(`${where}: build argument name ${JSON.stringify(name)} is not valid`);
    if (raw === null || raw === undefined) return;
    args[name] = setting(raw, `${where}: build argument ${name}`);
  };
  if (value === undefined || value === null) return args;
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item !== 'string') throw new PlanError(`${where}: build.args list items must be K=V strings`);
      const eq = item.indexOf('=');
      if (eq < 0) add(item, undefined);
      else add(item.slice(0, eq), item.slice(eq + 1));
    }
  } else if (isMap(value)) {
    for (const [name, raw] of Object.entries(value)) add(name, raw);
  } else {
    throw new PlanError(`${where}: build.args must be a mapping or a list of K=V`);
  }
  return args;
}

/**
 * A scalar build setting as a string. Compose would interpolate `${VAR}` from its
 * environment; a build has none, so interpolation is refused rather than silently emptied
 * (`$$` is Compose's literal `$`).
 */
function setting(value: unknown, where: string): string {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new PlanError(`${where} must be a string`);
  }
  const text = String(value);
  if (/\$[{A-Za-z_]/.test(text.replace(/\$\$/g, ''))) {
    throw new PlanError(`${where}: variable interpolation (${text}) is not supported in build settings`);
  }
  return text.replace(/\$\$/g, '$');
}

/**
 * Checks that `path` stays inside the repository, following symbolic links where the path
 * exists; returns its real path and its path from the root (`/`-separated, `.` for the root).
 */
function inside(root: string, path: string, what: string): { real: string; relative: string; exists: boolean } {
  const exists = existsSync(path);
  const real = exists ? realpathSync(path) : path;
  const rel = relative(root, real);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new PlanError(`${what} is outside the repository`);
  }
  return { real, relative: rel === '' ? '.' : rel.split(sep).join('/'), exists };
}

function realDir(path: string, what: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new PlanError(`${what} is not a folder`);
  return realpathSync(path);
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
