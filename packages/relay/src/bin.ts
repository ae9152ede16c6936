import { rootLogger } from '@atsuite/common'
import { RelayServer, envToConfig, readEnv } from './index.ts'

const cfg = envToConfig(readEnv())
const relay = await RelayServer.create(cfg)
const port = await relay.start()
rootLogger.info({ port, data: cfg.dataDirectory, plc: cfg.plcUrl, syncMode: cfg.syncMode, hosts: cfg.initialHosts }, 'relay started')
// machine-readable line for scripts that start us on port 0
if (process.env.RELAY_ANNOUNCE_PORT === 'true') console.log(`RELAY_LISTENING ${port}`)

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  rootLogger.info('relay stopping')
  await relay.destroy()
}
process.once('SIGTERM', () => void shutdown())
process.once('SIGINT', () => void shutdown())
