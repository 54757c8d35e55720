/** Jest runs TypeScript through esbuild; ESM-only dependencies (middy, openid-client, jose) are transformed too. */
module.exports = {
  testEnvironment: 'node',
  // middy ships ESM only (an `import`-only export): point Jest at the file; esbuild makes it CommonJS.
  moduleNameMapper: { '^@middy/(core|util)$': '<rootDir>/node_modules/@middy/$1/index.js' },
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': '<rootDir>/test/support/esbuild-transform.cjs' },
  // openid-client, oauth4webapi and jose ship ESM only too (their `default` export is an ES module).
  transformIgnorePatterns: ['/node_modules/(?!(@middy|openid-client|oauth4webapi|jose)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
};
