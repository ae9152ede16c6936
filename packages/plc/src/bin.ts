// Entry point: PLC_* environment → config → server. SIGTERM/SIGINT stop it
// cleanly; the process then exits on its own once nothing is left running.
import { envToConfig, readEnv } from './config.ts'
import { PlcServer } from './index.ts'
import { plcLogger } from './logger.ts'

const cfg = envToConfig(readEnv())
const server = await PlcServer.create(cfg)
await server.start()
plcLogger.info({ url: server.url, dbLocation: cfg.dbLocation }, 'plc directory listening')

let stopping = false
const shutdown = (signal: string): void => {
  if (stopping) return
  stopping = true
  plcLogger.info({ signal }, 'plc directory stopping')
  server.destroy().then(
    () => plcLogger.info('plc directory stopped'),
    (err: unknown) => {
      plcLogger.error({ err }, 'plc directory failed to stop cleanly')
      process.exitCode = 1
    },
  )
}
process.once('SIGTERM', () => shutdown('SIGTERM'))
process.once('SIGINT', () => shutdown('SIGINT'))
