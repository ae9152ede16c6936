import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { AtpAgent } from '@atproto/api'
import { PlcServer } from '@atsuite/plc'
import { PDS, envToConfig, type PdsConfig, type PdsSecrets } from '@atsuite/pds'

export type TestPdsOptions = {
  /** env-style overrides (PDS_*), applied over loopback test defaults */
  env?: Record<string, string>
  dataDirectory?: string
  /** fixed secrets (e.g. a known JWT secret to sign test tokens with); the rest are random */
  secrets?: Partial<PdsSecrets>
}

export const testSecrets = (): PdsSecrets => ({
  jwtSecret: randomBytes(16).toString('hex'),
  adminPassword: 'admin-pass',
  plcRotationKeyHex: randomBytes(32).toString('hex'),
})

/**
 * Builds a PDS config for tests: loopback, OS-chosen port, temp directories.
 * The public URL and service DID are fixed once the port is known.
 */
export const testPdsConfig = (plcUrl: string, dataDirectory: string, env: Record<string, string> = {}): PdsConfig =>
  envToConfig({
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: '0',
    PDS_DATA_DIRECTORY: dataDirectory,
    PDS_DID_PLC_URL: plcUrl,
    PDS_SERVICE_HANDLE_DOMAINS: '.test',
    PDS_INVITE_REQUIRED: 'false',
    PDS_DEV_MODE: 'true',
    ...env,
  })

/**
 * The in-process test network: a PLC directory and a PDS on loopback ports,
 * data in a temp directory removed on `close()`.
 */
export class TestNetwork {
  readonly plc: PlcServer
  readonly pds: PDS
  readonly dir: string
  private readonly ownsDir: boolean

  private constructor(plc: PlcServer, pds: PDS, dir: string, ownsDir: boolean) {
    this.plc = plc
    this.pds = pds
    this.dir = dir
    this.ownsDir = ownsDir
  }

  static async create(opts: TestPdsOptions = {}): Promise<TestNetwork> {
    const ownsDir = !opts.dataDirectory
    const dir = opts.dataDirectory ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'atsuite-net-')))
    const plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
    await plc.start()
    const pds = await startTestPds(plc.url, path.join(dir, 'pds'), opts.env, { ...testSecrets(), ...opts.secrets })
    return new TestNetwork(plc, pds, dir, ownsDir)
  }

  agent(): AtpAgent {
    return new AtpAgent({ service: this.pds.url })
  }

  /** Basic auth header for the PDS admin (the test secrets' admin password). */
  adminAuthHeaders(): { authorization: string } {
    const basic = Buffer.from(`admin:${this.pds.ctx.secrets.adminPassword}`).toString('base64')
    return { authorization: `Basic ${basic}` }
  }

  /**
   * Creates an account and returns a logged-in agent for it. When the PDS
   * requires invites, an admin-issued single-use code is used.
   */
  async createUser(name: string, password = 'hunter2-password'): Promise<{ agent: AtpAgent; did: string; handle: string; password: string }> {
    const agent = this.agent()
    const handle = `${name}.test`
    let inviteCode: string | undefined
    if (this.pds.ctx.cfg.invites.required) {
      const res = await this.agent().com.atproto.server.createInviteCode({ useCount: 1 }, { headers: this.adminAuthHeaders() })
      inviteCode = res.data.code
    }
    await agent.createAccount({ handle, email: `${name}@example.com`, password, inviteCode })
    return { agent, did: agent.session!.did, handle, password }
  }

  async close(): Promise<void> {
    await this.pds.destroy()
    await this.plc.destroy()
    if (this.ownsDir) await fs.rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Starts a PDS on an OS-chosen loopback port. Port 0 is bound first, then the
 * public URL and service DID are derived from the real port.
 */
export const startTestPds = async (
  plcUrl: string,
  dataDirectory: string,
  env: Record<string, string> = {},
  secrets: PdsSecrets = testSecrets(),
): Promise<PDS> => {
  const port = env.PDS_PORT ? Number(env.PDS_PORT) : await freePort()
  const cfg = testPdsConfig(plcUrl, dataDirectory, {
    PDS_PORT: String(port),
    PDS_PUBLIC_URL: `http://localhost:${port}`,
    PDS_SERVICE_DID: `did:web:localhost%3A${port}`,
    ...env,
  })
  const pds = await PDS.create(cfg, secrets, { validateResponses: process.env.PDS_VALIDATE_RESPONSES !== "false" })
  await pds.start()
  return pds
}

export const freePort = async (): Promise<number> => {
  const net = await import('node:net')
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}
