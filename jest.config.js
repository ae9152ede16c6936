/** Jest runs TypeScript ESM through swc; servers under test run in-process on loopback. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
        module: { type: 'es6' },
      },
    ],
  },
  testMatch: ['<rootDir>/packages/*/tests/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  // the reference-implementation tests: `npm run test:interop`; headless-browser tests: `npm run test:browser`
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/interop/', '<rootDir>/test/browser/'],
  testTimeout: 60000,
  maxWorkers: 2,
}
