/** Jest runs TypeScript ESM through swc; servers under test run in-process on loopback. */
export default {
  testEnvironment: '<rootDir>/test/jest-environment.ts',
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
  // a worker whose heap passes 400 MB after a file is replaced: every file's module registry stays in
  // its heap (1.2-1.4 GB each by the end of a full run, 2 GB of RSS), and the kernel alone took ~0.3 s
  // to free a process that size, past jest's 0.5 s grace for a worker to exit once the rest is added
  workerIdleMemoryLimit: '400MB',
}
