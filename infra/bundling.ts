import * as path from 'node:path';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';
import { findProjectRoot } from '../functions/commons/project-root';

/**
 * How every Lambda handler is bundled, in one place: the house construct (`SlipwayFunction`)
 * hands these to `NodejsFunction`, and `scripts/bundle-size.ts` hands the same values to esbuild
 * directly, so the measured bundle is the deployed bundle.
 */

/** The repository root (see functions/commons/project-root.ts). */
export const PROJECT_ROOT = findProjectRoot();

/** The Lambda handlers, one entry file each, each exporting `handler`. */
export const HANDLERS = {
  projectWebhook: path.join(PROJECT_ROOT, 'functions/handlers/project-webhook.ts'),
  systemHook: path.join(PROJECT_ROOT, 'functions/handlers/system-hook.ts'),
  adminApi: path.join(PROJECT_ROOT, 'functions/handlers/admin-api.ts'),
  console: path.join(PROJECT_ROOT, 'functions/handlers/console.ts'),
  buildEvents: path.join(PROJECT_ROOT, 'functions/handlers/build-events.ts'),
  rolloutEvents: path.join(PROJECT_ROOT, 'functions/handlers/rollout-events.ts'),
  releaseSteps: path.join(PROJECT_ROOT, 'functions/handlers/release-steps.ts'),
  sweep: path.join(PROJECT_ROOT, 'functions/handlers/sweep.ts'),
} as const;

export type HandlerName = keyof typeof HANDLERS;

/** The Lambda runtime ships AWS SDK v3; bundling it again only adds weight and cold-start time. */
export const EXTERNAL_MODULES: readonly string[] = ['@aws-sdk/*'];

/**
 * ESM bundles have no `require`, but CommonJS dependencies bundled into them may still call it
 * (for Node built-ins). The banner gives the module a real one. The import is aliased so it
 * cannot collide with a `createRequire` the bundle itself imports.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __slipwayCreateRequire } from 'node:module';" +
  'const require = __slipwayCreateRequire(import.meta.url);';

/** The settings both bundlers share. */
export const BUNDLE = {
  /** Matches the `nodejs22.x` runtime. */
  target: 'node22',
  minify: true,
  sourceMap: true,
  /** Stack traces map back to file and line; the sources themselves stay out of the zip. */
  sourcesContent: false,
  /** Prefer packages' ESM builds: better tree shaking. */
  mainFields: ['module', 'main'],
  externalModules: EXTERNAL_MODULES,
  banner: ESM_REQUIRE_BANNER,
} as const;

/** `NodejsFunction` bundling options (local esbuild; Docker is never needed). */
export function nodejsBundlingOptions(): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: BUNDLE.target,
    minify: BUNDLE.minify,
    sourceMap: BUNDLE.sourceMap,
    sourcesContent: BUNDLE.sourcesContent,
    mainFields: [...BUNDLE.mainFields],
    externalModules: [...BUNDLE.externalModules],
    banner: BUNDLE.banner,
  };
}

/**
 * The same bundle as esbuild options, for tools that call esbuild directly.
 * @param bundleAwsSdk include `@aws-sdk/*` in the bundle (for information only; Lambda never gets it)
 */
export function esbuildOptions(bundleAwsSdk = false): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    outExtension: { '.js': '.mjs' },
    target: BUNDLE.target,
    minify: BUNDLE.minify,
    sourcemap: BUNDLE.sourceMap,
    sourcesContent: BUNDLE.sourcesContent,
    mainFields: [...BUNDLE.mainFields],
    external: bundleAwsSdk ? [] : [...BUNDLE.externalModules],
    banner: { js: BUNDLE.banner },
  };
}
