// Child processes for the benchmark: spawn a server, wait for its health
// endpoint, read its RSS, and stop it again — only ever by the PID we got
// from spawn().
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export type ServerProcess = {
  name: string
  pid: number
  url: string
  child: ChildProcess
  /** stdout and stderr of the child, appended as they come */
  logFile: string
}

const started = new Set<ServerProcess>()

/** The Node binary running this script; the benchmark refuses anything older than 22. */
export const nodeBinary = (): string => {
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22) {
    throw new Error(`Node ${process.versions.node} is too old; run through npm (npm run bench:pds) to get the project's Node 24`)
  }
  return process.execPath
}

/** Our environment minus any service settings, so a stray PDS_* in the shell cannot skew one server. */
const inheritedEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(PDS_|PLC_|LOG_)/.test(k)) env[k] = v
  }
  return env
}

/** A loopback port that was free a moment ago (the OS chose it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })

export type SpawnOptions = {
  name: string
  args: string[]
  env: Record<string, string>
  cwd: string
  url: string
  healthPath: string
  logFile: string
  timeoutMs?: number
}

/**
 * Starts `node <args>` and resolves once `GET url+healthPath` answers 200.
 * Rejects (after stopping the child) if it exits early or never gets healthy;
 * the error carries the tail of the child's output.
 */
export const startServer = async (opts: SpawnOptions): Promise<ServerProcess> => {
  const log = fs.openSync(opts.logFile, 'a')
  const child = spawn(nodeBinary(), opts.args, {
    cwd: opts.cwd,
    env: { ...inheritedEnv(), ...opts.env },
    stdio: ['ignore', log, log],
  })
  fs.closeSync(log)
  if (child.pid === undefined) throw new Error(`${opts.name}: spawn failed`)
  const proc: ServerProcess = { name: opts.name, pid: child.pid, url: opts.url, child, logFile: opts.logFile }
  started.add(proc)

  let exited: string | undefined
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`
    started.delete(proc)
  })
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${opts.name} ${exited} before it was healthy\n${logTail(opts.logFile)}`)
    try {
      const res = await fetch(opts.url + opts.healthPath, { signal: AbortSignal.timeout(2_000) })
      await res.arrayBuffer()
      if (res.ok) return proc
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  await stopServer(proc)
  throw new Error(`${opts.name} not healthy after ${opts.timeoutMs ?? 30_000} ms\n${logTail(opts.logFile)}`)
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export const stopServer = async (proc: ServerProcess, graceMs = 5_000): Promise<void> => {
  const { child } = proc
  if (child.exitCode !== null || child.signalCode !== null) {
    started.delete(proc)
    return
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  process.kill(proc.pid, 'SIGTERM')
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(proc.pid, 'SIGKILL')
  }, graceMs)
  await exited
  clearTimeout(timer)
  started.delete(proc)
}

/** Synchronous last resort (process 'exit' handler): SIGKILL whatever we started that is still running. */
export const killAllStartedSync = (): void => {
  for (const proc of started) {
    try {
      process.kill(proc.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  started.clear()
}

export const stopAllStarted = async (): Promise<void> => {
  await Promise.all([...started].map((p) => stopServer(p)))
}

/**
 * A memory figure of a process in MiB from /proc/<pid>/status: VmRSS (resident
 * now) or VmHWM (peak resident).
 */
export const memoryMiB = (pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number => {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status)
  if (!match) throw new Error(`no ${field} for pid ${pid}`)
  return Number(match[1]) / 1024
}

export const isRunning = (proc: ServerProcess): boolean =>
  proc.child.exitCode === null && proc.child.signalCode === null

export const logTail = (file: string, bytes = 4_000): string => {
  try {
    const text = fs.readFileSync(file, 'utf8')
    return text.length > bytes ? '…' + text.slice(-bytes) : text
  } catch {
    return ''
  }
}
