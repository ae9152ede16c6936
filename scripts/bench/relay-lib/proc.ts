// Child processes for the relay benchmark: servers (PLC, relay) started with
// `node <entry>` and polled until healthy, workers (fake hosts, consumers)
// forked with an IPC channel; /proc readers for RSS and CPU. Children are only
// ever stopped by the PID spawn() returned.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

const started = new Set<ChildProcess>()

/** Our environment without service settings, so a stray RELAY_* in the shell cannot skew the run. */
const cleanEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(PDS_|PLC_|RELAY_|LOG_)/.test(k)) env[k] = v
  }
  return env
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })

export const logTail = (file: string, lines = 30): string => {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

export type Server = { name: string; pid: number; url: string; child: ChildProcess; logFile: string }

/** `node <entry>` with `env`; resolves once GET url+healthPath answers 200. */
export const startServer = async (opts: {
  name: string
  entry: string
  env: Record<string, string>
  url: string
  healthPath: string
  logFile: string
  timeoutMs?: number
  /** extra node flags (e.g. --cpu-prof) */
  nodeArgs?: string[]
}): Promise<Server> => {
  const log = fs.openSync(opts.logFile, 'a')
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.entry], { cwd: repoRoot, env: { ...cleanEnv(), ...opts.env }, stdio: ['ignore', log, log] })
  fs.closeSync(log)
  if (child.pid === undefined) throw new Error(`${opts.name}: spawn failed`)
  started.add(child)
  let exited: string | undefined
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`
    started.delete(child)
  })
  const server: Server = { name: opts.name, pid: child.pid, url: opts.url, child, logFile: opts.logFile }
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${opts.name} ${exited} before it was healthy\n${logTail(opts.logFile)}`)
    try {
      const res = await fetch(opts.url + opts.healthPath, { signal: AbortSignal.timeout(2_000) })
      await res.arrayBuffer()
      if (res.ok) return server
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  await stop(child)
  throw new Error(`${opts.name} not healthy after ${opts.timeoutMs ?? 30_000} ms\n${logTail(opts.logFile)}`)
}

/** A worker script forked with IPC; its output goes to `logFile`. */
/**
 * Our relay as its own process on a free loopback port, its data in
 * `<workDir>/<name>`, accepting http:// hosts; `env` adds or overrides.
 */
export const startRelay = async (opts: {
  workDir: string
  name: string
  plcUrl: string
  adminPassword: string
  env?: Record<string, string>
  nodeArgs?: string[]
}): Promise<Server> => {
  const port = await freePort()
  return startServer({
    name: 'relay',
    entry: path.join(repoRoot, 'packages/relay/src/bin.ts'),
    env: {
      RELAY_PORT: String(port),
      RELAY_HOST: '127.0.0.1',
      RELAY_DATA_DIRECTORY: path.join(opts.workDir, opts.name),
      RELAY_PLC_URL: opts.plcUrl,
      RELAY_ADMIN_PASSWORD: opts.adminPassword,
      RELAY_ALLOW_INSECURE_HOSTS: 'true',
      LOG_LEVEL: 'warn',
      ...opts.env,
    },
    url: `http://127.0.0.1:${port}`,
    healthPath: '/xrpc/_health',
    logFile: path.join(opts.workDir, `${opts.name}.log`),
    nodeArgs: opts.nodeArgs,
  })
}

export const startWorker = (entry: string, args: string[], logFile: string): ChildProcess => {
  const log = fs.openSync(logFile, 'a')
  const child = fork(entry, args, { cwd: repoRoot, env: cleanEnv(), stdio: ['ignore', log, log, 'ipc'], serialization: 'advanced' })
  fs.closeSync(log)
  started.add(child)
  child.once('exit', () => started.delete(child))
  return child
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export const stop = async (child: ChildProcess, graceMs = 5_000): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }, graceMs)
  await exited
  clearTimeout(timer)
}

export const stopAll = async (): Promise<void> => {
  await Promise.all([...started].map((c) => stop(c)))
}

/** Last resort from a process 'exit' handler. */
export const killAllSync = (): void => {
  for (const c of started) {
    try {
      c.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

/**
 * Resident set size of a process, in MiB, from /proc (null when unavailable);
 * `anon`: without file-backed pages (a memory-mapped database's pages are the
 * OS page cache, shown in VmRSS).
 */
export const rssMiB = (pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number | null => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : null
  } catch {
    return null
  }
}

const CLOCK_TICKS = 100

/** User + system CPU seconds of a process (all its threads), from /proc (null when unavailable). */
export const cpuSeconds = (pid: number): number | null => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return null
  }
}

/** Waits for one IPC message of `type` from a worker. */
export const nextMessage = <T extends { type: string }>(child: ChildProcess, type: string, timeoutMs = 600_000): Promise<T> =>
  new Promise((resolve, reject) => {
    const onMsg = (m: unknown) => {
      if ((m as { type?: string }).type === type) {
        cleanup()
        resolve(m as T)
      }
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`worker exited (code ${code}) while waiting for "${type}"`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`no "${type}" from worker after ${timeoutMs} ms`))
    }, timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      child.off('message', onMsg)
      child.off('exit', onExit)
    }
    child.on('message', onMsg)
    child.once('exit', onExit)
  })
