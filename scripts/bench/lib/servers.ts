// How each server under test (and the shared PLC directory) is started: its
// command line and environment. Spawning and health waits live in process.ts.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { childPdsEnv } from '@atsuite/dev-env'
import { freePort, startServer, type ServerProcess } from './process.ts'
import { referenceEnv, repoRoot, runnerScript } from './reference.ts'

export type Target = 'ours' | 'reference'

const secrets = () => ({
  jwtSecret: randomBytes(32).toString('hex'),
  adminPassword: randomBytes(16).toString('hex'),
  plcRotationKeyHex: randomBytes(32).toString('hex'),
  dpopSecret: randomBytes(32).toString('hex'),
})

/** Our PLC directory, in its own process with its SQLite file under `workDir`. */
export const startPlc = async (workDir: string): Promise<ServerProcess> => {
  const port = await freePort()
  const dataDirectory = path.join(workDir, 'plc')
  fs.mkdirSync(dataDirectory, { recursive: true })
  return startServer({
    name: 'plc',
    args: [path.join(repoRoot, 'packages/plc/src/bin.ts')],
    env: { PLC_PORT: String(port), PLC_HOST: '127.0.0.1', PLC_DATA_DIRECTORY: dataDirectory, LOG_ENABLED: 'false' },
    cwd: repoRoot,
    url: `http://127.0.0.1:${port}`,
    healthPath: '/_health',
    logFile: path.join(workDir, 'plc.log'),
  })
}

/**
 * How `npm run pds` runs our PDS (package.json), for every benchmark that starts one: a 6 MB
 * semi-space keeps RSS ~100 MB below V8's default young generation at no CPU cost under write-heavy
 * load (4 MB scavenged too often: sequential writes ~10 % slower), fewer malloc arenas
 * another ~70 MB (two; one, ~10 MB more), Node's compile cache ~8 MB from the second start on (packages/pds/HACKING.md,
 * Runtime).
 */
export const OUR_PDS_RUNTIME = {
  nodeArgs: ['--max-semi-space-size=6'],
  env: {
    MALLOC_ARENA_MAX: '1',
    MALLOC_MMAP_THRESHOLD_: '1048576',
    MALLOC_TRIM_THRESHOLD_: '8388608',
    NODE_COMPILE_CACHE: path.join(repoRoot, 'node_modules/.cache/node-compile-cache'),
  },
}

/** `nodeArgs`: more Node flags for the server (e.g. `--cpu-prof`). */
export const startOurPds = async (workDir: string, plcUrl: string, nodeArgs: string[] = []): Promise<ServerProcess> => {
  const port = await freePort()
  const dataDirectory = path.join(workDir, 'ours')
  fs.mkdirSync(dataDirectory, { recursive: true })
  return startServer({
    name: 'our pds',
    args: [...OUR_PDS_RUNTIME.nodeArgs, ...nodeArgs, path.join(repoRoot, 'packages/pds/src/bin.ts')],
    env: { ...OUR_PDS_RUNTIME.env, ...childPdsEnv({ port, dataDirectory, plcUrl }) },
    cwd: repoRoot,
    url: `http://127.0.0.1:${port}`,
    healthPath: '/xrpc/_health',
    logFile: path.join(workDir, 'ours.log'),
  })
}

export const startReferencePds = async (workDir: string, plcUrl: string, cacheDir: string): Promise<ServerProcess> => {
  const port = await freePort()
  const dataDirectory = path.join(workDir, 'reference')
  fs.mkdirSync(dataDirectory, { recursive: true })
  return startServer({
    name: 'reference pds',
    args: [runnerScript],
    env: referenceEnv({ cacheDir, port, dataDirectory, plcUrl, secrets: secrets() }),
    cwd: cacheDir,
    url: `http://127.0.0.1:${port}`,
    healthPath: '/xrpc/_health',
    logFile: path.join(workDir, 'reference.log'),
    timeoutMs: 60_000,
  })
}
