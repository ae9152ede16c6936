// Starts the local network in one process on its defaults: PLC directory on
// 2582, PDS on 2583, data under ./data (kept across restarts). Every port,
// path and secret can be overridden with the services' own env variables
// (PLC_*, PDS_*). Ctrl-C stops everything cleanly.
import { rootLogger } from '@atsuite/common'
import { PlcServer, envToConfig as plcConfig, readEnv as readPlcEnv } from '@atsuite/plc'
import { PDS, envToConfig as pdsConfig, envToSecrets, readEnv as readPdsEnv } from '@atsuite/pds'

const plc = await PlcServer.create(plcConfig(readPlcEnv()))
await plc.start()

const env = readPdsEnv()
env.PDS_DID_PLC_URL ??= `http://localhost:${plc.port}`
const cfg = pdsConfig(env)
const pds = await PDS.create(cfg, envToSecrets(env, cfg))
const pdsPort = await pds.start()

const lines = [
  `PLC directory  http://localhost:${plc.port}`,
  `PDS            http://localhost:${pdsPort}   (handles: *${cfg.identity.serviceHandleDomains.join(', *')})`,
  `data           ${cfg.dataDirectory} and ${plc.cfg.dbLocation}`,
]
console.log(`\nlocal network up\n  ${lines.join('\n  ')}\n`)
rootLogger.info({ plc: plc.port, pds: pdsPort }, 'network started')

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await pds.destroy()
  await plc.destroy()
  console.log('local network stopped')
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
