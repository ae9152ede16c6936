import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { HttpServer } from '@atsuite/common'
import { createApp } from './api/app.ts'
import type { PlcConfig } from './config.ts'
import { createContext, type AppContext, type PlcOverrides } from './context.ts'
import { openPlcDb } from './db/index.ts'

export type { PlcConfig, PlcEnv } from './config.ts'
export { readEnv, envToConfig } from './config.ts'
export type { AppContext, PlcOverrides } from './context.ts'
export type { DidDocument } from './directory/document.ts'
export { PlcDirectory, type SubmitResult } from './directory/directory.ts'
export * from './directory/errors.ts'
export { PlcClient, exportOps, type ExportedOp } from './client.ts'

const urlHost = (host: string): string => {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}

/** A did:plc directory (plc.directory's HTTP API) over one SQLite file. */
export class PlcServer {
  readonly cfg: PlcConfig
  readonly ctx: AppContext
  private readonly http: HttpServer
  private boundPort: number | undefined

  private constructor(cfg: PlcConfig, ctx: AppContext, http: HttpServer) {
    this.cfg = cfg
    this.ctx = ctx
    this.http = http
  }

  /** Opens (creating the directory if needed) and migrates the database. Does not listen yet. */
  static async create(cfg: PlcConfig, overrides: PlcOverrides = {}): Promise<PlcServer> {
    if (cfg.dbLocation !== ':memory:' && !cfg.dbLocation.startsWith('file:')) {
      mkdirSync(path.dirname(path.resolve(cfg.dbLocation)), { recursive: true })
    }
    const db = await openPlcDb(cfg.dbLocation)
    const ctx = createContext(db, overrides)
    return new PlcServer(cfg, ctx, new HttpServer(createApp(ctx)))
  }

  async start(): Promise<void> {
    this.boundPort = await this.http.listen(this.cfg.port, this.cfg.host)
  }

  /** Stops listening (dropping open connections), lets queued writes finish, closes the database. */
  async destroy(): Promise<void> {
    await this.http.close()
    await this.ctx.directory.drain()
    await this.ctx.db.close()
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('PlcServer is not started')
    return this.boundPort
  }

  get url(): string {
    return `http://${urlHost(this.cfg.host)}:${this.port}`
  }
}
