// Starts the local network in one process on its defaults: PLC directory on
// 2582, PDS on 2583, relay on 2585, data under ./data (kept across restarts).
// Every port, path and secret can be overridden with the services' own env
// variables (PLC_*, PDS_*, RELAY_*). The PDS asks the relay to crawl it at
// start (PDS_CRAWLERS). Ctrl-C stops everything cleanly.
import { rootLogger } from '@atsuite/common'
import { PlcServer, envToConfig as plcConfig, readEnv as readPlcEnv } from '@atsuite/plc'
import { PDS, envToConfig as pdsConfig, envToSecrets, readEnv as readPdsEnv } from '@atsuite/pds'
import { RelayServer, envToConfig as relayConfig } from '@atsuite/relay'

const plc = await PlcServer.create(plcConfig(readPlcEnv()))
await plc.start()

const relayEnv = { ...process.env }
relayEnv.RELAY_PLC_URL ??= `http://localhost:${plc.port}`
const relay = await RelayServer.create(relayConfig(relayEnv))
const relayPort = await relay.start()

const env = readPdsEnv()
env.PDS_DID_PLC_URL ??= `http://localhost:${plc.port}`
env.PDS_CRAWLERS ??= `http://localhost:${relayPort}`
const cfg = pdsConfig(env)
const pds = await PDS.create(cfg, envToSecrets(env, cfg))
const pdsPort = await pds.start()

const lines = [
  `PLC directory  http://localhost:${plc.port}`,
  `PDS            http://localhost:${pdsPort}   (handles: *${cfg.identity.serviceHandleDomains.join(', *')})`,
  `relay          http://localhost:${relayPort}   (firehose: ws://localhost:${relayPort}/xrpc/com.atproto.sync.subscribeRepos)`,
  `data           ${cfg.dataDirectory}, ${relay.ctx.cfg.dataDirectory}, ${plc.cfg.dbLocation}`,
]
console.log(`\nlocal network up\n  ${lines.join('\n  ')}\n`)
rootLogger.info({ plc: plc.port, pds: pdsPort, relay: relayPort }, 'network started')

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await pds.destroy()
  await relay.destroy()
  await plc.destroy()
  console.log('local network stopped')
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
