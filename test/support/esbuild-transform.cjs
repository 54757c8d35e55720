// Jest transformer: TypeScript (and the ESM-only middy) to CommonJS with esbuild, which the
// project already uses to bundle its Lambdas. No type-checking here: `npm run typecheck` does it.
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      loader: filename.endsWith('.ts') ? 'ts' : 'js',
      format: 'cjs',
      target: 'node22',
      sourcemap: 'external',
      sourcefile: filename,
      logLevel: 'silent',
    });
    return { code, map };
  },
  getCacheKey(source, filename) {
    return require('node:crypto').createHash('sha256').update(`esbuild-v1\0${filename}\0${source}`).digest('hex');
  },
};
