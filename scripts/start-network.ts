// Starts the local network in one process on its defaults: PLC directory on
// 2582, PDS on 2583, app view on 2584, relay on 2585, fediverse bridge on
// 2586, data under ./data (kept across restarts). Every port, path and secret
// can be overridden with the services' own env variables (PLC_*, PDS_*,
// APPVIEW_*, RELAY_*, BRIDGE_*). The PDS asks the relay to crawl it at start
// (PDS_CRAWLERS), the app view and the bridge read the relay's firehose, and
// the PDS proxies app.bsky calls to the app view.
// Ctrl-C stops everything cleanly.
import { rootLogger } from '@atsuite/common'
import { PlcServer, envToConfig as plcConfig, readEnv as readPlcEnv } from '@atsuite/plc'
import { PDS, envToConfig as pdsConfig, envToSecrets, readEnv as readPdsEnv } from '@atsuite/pds'
import { RelayServer, envToConfig as relayConfig } from '@atsuite/relay'
import { AppView, envToConfig as appviewConfig } from '@atsuite/appview'
import { Bridge, envToConfig as bridgeConfig } from '@atsuite/bridge'

const plc = await PlcServer.create(plcConfig(readPlcEnv()))
await plc.start()

const relayEnv = { ...process.env }
relayEnv.RELAY_PLC_URL ??= `http://localhost:${plc.port}`
const relay = await RelayServer.create(relayConfig(relayEnv))
const relayPort = await relay.start()

const appviewEnv = { ...process.env }
appviewEnv.APPVIEW_PLC_URL ??= `http://localhost:${plc.port}`
appviewEnv.APPVIEW_REPO_STREAM_URL ??= `ws://localhost:${relayPort}`
const avCfg = appviewConfig(appviewEnv)
const appview = await AppView.create(avCfg)
const appviewPort = await appview.start()

const env = readPdsEnv()
env.PDS_BSKY_APP_VIEW_URL ??= avCfg.publicUrl
env.PDS_BSKY_APP_VIEW_DID ??= avCfg.did
env.PDS_DID_PLC_URL ??= `http://localhost:${plc.port}`
env.PDS_CRAWLERS ??= `http://localhost:${relayPort}`
const cfg = pdsConfig(env)
const pds = await PDS.create(cfg, envToSecrets(env, cfg))
const pdsPort = await pds.start()

const bridgeEnv = { ...process.env }
bridgeEnv.BRIDGE_PDS_URL ??= `http://localhost:${pdsPort}`
bridgeEnv.BRIDGE_PLC_URL ??= `http://localhost:${plc.port}`
bridgeEnv.BRIDGE_REPO_STREAM_URL ??= `ws://localhost:${relayPort}`
const bridge = await Bridge.create(bridgeConfig(bridgeEnv))
const bridgePort = await bridge.start()
const bridgeAccount = await bridge.accounts.bridgeAccount()

const lines = [
  `PLC directory  http://localhost:${plc.port}`,
  `PDS            http://localhost:${pdsPort}   (handles: *${cfg.identity.serviceHandleDomains.join(', *')})`,
  `app view       http://localhost:${appviewPort}   (${avCfg.did})`,
  `relay          http://localhost:${relayPort}   (firehose: ws://localhost:${relayPort}/xrpc/com.atproto.sync.subscribeRepos)`,
  `bridge         http://localhost:${bridgePort}   (follow ${bridge.cfg.account.handle} to be reachable from the fediverse)`,
  `data           ${cfg.dataDirectory}, ${avCfg.dataDirectory}, ${relay.ctx.cfg.dataDirectory}, ${bridge.cfg.dataDirectory}, ${plc.cfg.dbLocation}`,
]
console.log(`\nlocal network up\n  ${lines.join('\n  ')}\n`)
rootLogger.info({ plc: plc.port, pds: pdsPort, appview: appviewPort, relay: relayPort, bridge: bridgePort, bridgeDid: bridgeAccount.did }, 'network started')

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await bridge.destroy()
  await pds.destroy()
  await appview.destroy()
  await relay.destroy()
  await plc.destroy()
  console.log('local network stopped')
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
