import { randomBytes } from 'node:crypto'
import { PDS, envToConfig, type ContextOverrides, type PdsConfig, type PdsSecrets } from '@atsuite/pds'
import type { NetworkService } from './service.ts'
import { clientsSeeClose, freePort } from './util.ts'

export type TestPdsOptions = {
  /** env-style overrides (PDS_*), applied over loopback test defaults */
  env?: Record<string, string>
  dataDirectory?: string
  /** fixed secrets (e.g. a known JWT secret to sign test tokens with); the rest are random */
  secrets?: Partial<PdsSecrets>
  /** collaborators to replace (e.g. `handleResolver`: custom-domain handles without DNS) */
  overrides?: ContextOverrides
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
 * Starts a PDS on an OS-chosen loopback port (or `env.PDS_PORT`). The port is
 * chosen first so the public URL and service DID can name it.
 */
export const startTestPds = async (
  plcUrl: string,
  dataDirectory: string,
  env: Record<string, string> = {},
  secrets: PdsSecrets = testSecrets(),
  overrides: ContextOverrides = {},
): Promise<PDS> => {
  const port = env.PDS_PORT ? Number(env.PDS_PORT) : await freePort()
  const cfg = testPdsConfig(plcUrl, dataDirectory, {
    PDS_PORT: String(port),
    PDS_PUBLIC_URL: `http://localhost:${port}`,
    PDS_SERVICE_DID: `did:web:localhost%3A${port}`,
    ...env,
  })
  // no DNS or HTTPS lookups from tests: custom-domain handles resolve only through an injected resolver
  const handleResolver = overrides.handleResolver ?? { resolve: async () => undefined }
  const pds = await PDS.create(cfg, secrets, { ...overrides, handleResolver, validateResponses: process.env.PDS_VALIDATE_RESPONSES !== 'false' })
  await pds.start()
  return pds
}

/** The PDS of the network; restarts on the same port, data directory and secrets. Its stream is the sequencer. */
export class PdsService implements NetworkService {
  readonly name: string
  private readonly plcUrl: () => string
  private readonly dataDirectory: string
  private readonly env: Record<string, string>
  private readonly secrets: PdsSecrets
  private current: PDS | null = null
  private last: PDS | null = null
  private port: number | undefined

  private readonly overrides: ContextOverrides

  constructor(
    plcUrl: () => string,
    dataDirectory: string,
    env: Record<string, string>,
    secrets: PdsSecrets,
    name = 'pds',
    overrides: ContextOverrides = {},
  ) {
    this.name = name
    this.overrides = overrides
    this.plcUrl = plcUrl
    this.dataDirectory = dataDirectory
    this.env = env
    this.secrets = secrets
  }

  get running(): boolean {
    return this.current !== null
  }

  /** The running PDS, or the last one while stopped. */
  get server(): PDS {
    if (!this.last) throw new Error('the PDS was never started')
    return this.last
  }

  /** How a relay names this host (`localhost:<port>`, as in its DID documents). */
  get hostname(): string {
    if (this.port === undefined) throw new Error('the PDS was never started')
    return `localhost:${this.port}`
  }

  async start(): Promise<void> {
    if (this.current) return
    const env = this.port === undefined ? this.env : { ...this.env, PDS_PORT: String(this.port) }
    const pds = await startTestPds(this.plcUrl(), this.dataDirectory, env, this.secrets, this.overrides)
    this.port = pds.port
    this.current = this.last = pds
  }

  async destroy(): Promise<void> {
    const pds = this.current
    this.current = null
    await pds?.destroy()
    await clientsSeeClose()
  }

  head(): number {
    return this.server.ctx.sequencer.currentSeq
  }
}
