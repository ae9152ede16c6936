import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The `atp` command line's entry point in this checkout. */
export const ATP_BIN = fileURLToPath(new URL('../../cli/src/bin.ts', import.meta.url))

export type CliRun = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs `atp <args>` as its own process on this Node, as a user would; it is
 * sent SIGTERM after `timeoutMs` so no run outlives its test.
 */
export const runAtp = (args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ATP_BIN, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
