/**
 * Jest's node environment, with one change to how a jest worker process ends.
 *
 * A worker ends by letting its event loop drain. Node then tears down the whole
 * V8 heap, which by then holds the module registry of every test file the
 * worker ran (~500 MB after one package's suites): ~0.4 s. That passes jest's
 * 0.5 s grace on a busy machine, and jest kills the worker and warns that tests
 * leak. So when the loop drains, the worker calls `process.exit()` instead:
 * every 'exit' listener still runs, only the heap teardown is skipped. The
 * relay's suites warned in 6 runs of 7 before, in 0 of 8 after. (A full run's
 * heaps grow past 1 GB, and even that exit took too long: jest.config.js
 * replaces a worker past 800 MB.) Processes that are not jest workers
 * (`process.send` unset, e.g. a run in band) are left alone.
 */
import { TestEnvironment as NodeEnvironment } from 'jest-environment-node'

let hooked = false

export default class TestEnvironment extends NodeEnvironment {
  constructor(...args: ConstructorParameters<typeof NodeEnvironment>) {
    super(...args)
    if (!hooked && process.send) {
      hooked = true
      process.once('beforeExit', (code) => process.exit(code))
    }
  }
}
