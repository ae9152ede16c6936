import { rootLogger } from '@atsuite/common'
import { PDS, envToConfig, envToSecrets, readEnv } from './index.ts'

const env = readEnv()
const cfg = envToConfig(env)
const secrets = envToSecrets(env, cfg)
const pds = await PDS.create(cfg, secrets)
const port = await pds.start()
rootLogger.info({ port, hostname: cfg.service.hostname, did: cfg.service.did, data: cfg.dataDirectory }, 'pds started')
// machine-readable line for scripts that start us on port 0
if (process.env.PDS_ANNOUNCE_PORT === 'true') console.log(`PDS_LISTENING ${port}`)

const shutdown = async () => {
  rootLogger.info('pds stopping')
  await pds.destroy()
}
process.once('SIGTERM', () => void shutdown())
process.once('SIGINT', () => void shutdown())
