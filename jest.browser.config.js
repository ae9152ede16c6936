/** `npm run test:browser`: pages people use (the OAuth sign-in), driven in headless Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium). */
import base from './jest.config.js'

export default { ...base, testMatch: ['<rootDir>/test/browser/**/*.test.ts'], testPathIgnorePatterns: [], maxWorkers: 1 }
