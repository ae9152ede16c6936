import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { isRunning, killAllStartedSync, stopAllStarted, type ServerProcess } from './process.ts'

// What every benchmark entry point shares: progress lines, interruption,
// per-step error capture, and a work directory plus servers that never
// outlive the run.

export const progress = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`)

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err))

let interrupted = false

/** True after SIGINT/SIGTERM: remaining steps are skipped and no report is printed. */
export const isInterrupted = (): boolean => interrupted

/**
 * A step runner for one server: skipped once interrupted or when the server
 * process is gone; a failing step is recorded in `errors` and later steps go on.
 */
export const stepRunner =
  (server: ServerProcess, errors: string[]) =>
  async <T>(label: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (interrupted) return undefined
    if (!isRunning(server)) {
      errors.push(`${label}: skipped, server process is gone`)
      return undefined
    }
    progress(`${server.name}: ${label}`)
    try {
      return await fn()
    } catch (err) {
      if (!interrupted) errors.push(`${label}: ${errorMessage(err)}`)
      return undefined
    }
  }

/** Runs `main` in a fresh temp work directory; on any exit path the servers are stopped and the directory removed (unless kept). */
export const runBench = async (prefix: string, keep: boolean, main: (workDir: string) => Promise<void>): Promise<void> => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  const removeWorkDir = (): void => {
    if (keep) progress(`kept ${workDir}`)
    else fs.rmSync(workDir, { recursive: true, force: true })
  }
  // Last resort if we die some other way: no server we started outlives us.
  process.once('exit', killAllStartedSync)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true
      progress(`${signal}: stopping servers`)
      void stopAllStarted().finally(() => {
        removeWorkDir()
        process.exit(signal === 'SIGINT' ? 130 : 143)
      })
    })
  }
  try {
    await main(workDir)
  } catch (err) {
    if (!interrupted) console.error(err instanceof Error ? err.stack : err)
    process.exitCode = 1
    await stopAllStarted()
  } finally {
    removeWorkDir()
  }
}
