import { rootLogger } from '@atsuite/common'
import { AppView, envToConfig, readEnv } from './index.ts'

const cfg = envToConfig(readEnv())
const appview = await AppView.create(cfg)
const port = await appview.start()
rootLogger.info({ port, data: cfg.dataDirectory, stream: cfg.repoStreamUrl, did: cfg.did }, 'app view started')

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  rootLogger.info('app view stopping')
  await appview.destroy()
}
process.once('SIGTERM', () => void shutdown())
process.once('SIGINT', () => void shutdown())
