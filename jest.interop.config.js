/** `npm run test:interop`: tests against the reference implementation (installed on first run). */
import base from './jest.config.js'

export default { ...base, testMatch: ['<rootDir>/test/interop/**/*.test.ts'], testPathIgnorePatterns: [], maxWorkers: 1 }
