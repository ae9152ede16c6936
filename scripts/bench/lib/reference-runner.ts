// Starts the reference @atproto/pds from the benchmark's cache directory
// (ATSUITE_BENCH_REFERENCE_DIR), configured from the PDS_* environment, bound
// to 127.0.0.1. Run as its own process by lib/reference.ts; SIGTERM stops it.
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const dir = process.env.ATSUITE_BENCH_REFERENCE_DIR
if (!dir) throw new Error('ATSUITE_BENCH_REFERENCE_DIR is not set')
const port = Number(process.env.PDS_PORT)

// The reference calls app.listen(port), which binds every interface. Give
// that one call a loopback host; any other listen() is left alone.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  if (Number(args[0]) === port && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  return (listen as (...a: unknown[]) => net.Server).apply(this, args)
} as typeof listen

type ReferencePds = { start(): Promise<unknown>; destroy(): Promise<void> }
type ReferenceModule = {
  PDS: { create(cfg: unknown, secrets: unknown): Promise<ReferencePds> }
  envToCfg(env: unknown): unknown
  envToSecrets(env: unknown): unknown
  readEnv(): unknown
}

const entry = createRequire(path.join(dir, 'package.json')).resolve('@atproto/pds')
const ref = (await import(pathToFileURL(entry).href)) as ReferenceModule

const env = ref.readEnv()
const pds = await ref.PDS.create(ref.envToCfg(env), ref.envToSecrets(env))
await pds.start()

let stopping = false
const shutdown = (): void => {
  if (stopping) return
  stopping = true
  pds.destroy().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error('reference pds failed to stop cleanly', err)
      process.exit(1)
    },
  )
}
process.once('SIGTERM', shutdown)
process.once('SIGINT', shutdown)
