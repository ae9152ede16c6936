// Entry point: BRIDGE_* environment → config → bridge. SIGTERM/SIGINT stop it cleanly.
import { envToConfig, readEnv } from './config.ts'
import { Bridge } from './index.ts'
import { bridgeLogger } from './logger.ts'

const bridge = await Bridge.create(envToConfig(readEnv()))
await bridge.start()

let stopping = false
const shutdown = (signal: string): void => {
  if (stopping) return
  stopping = true
  bridgeLogger.info({ signal }, 'bridge stopping')
  bridge.destroy().then(
    () => bridgeLogger.info('bridge stopped'),
    (err: unknown) => {
      bridgeLogger.error({ err }, 'bridge failed to stop cleanly')
      process.exitCode = 1
    },
  )
}
process.once('SIGTERM', () => shutdown('SIGTERM'))
process.once('SIGINT', () => shutdown('SIGINT'))
