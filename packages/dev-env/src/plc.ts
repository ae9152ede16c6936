import { PlcServer } from '@atsuite/plc'
import type { NetworkService } from './service.ts'
import { clientsSeeClose } from './util.ts'

/** The PLC directory: one SQLite file; restarts on the port it first got. */
export class PlcService implements NetworkService {
  readonly name = 'plc'
  private readonly dbLocation: string
  private current: PlcServer | null = null
  private last: PlcServer | null = null
  private port = 0

  constructor(dbLocation: string) {
    this.dbLocation = dbLocation
  }

  get running(): boolean {
    return this.current !== null
  }

  /** The running server, or the last one while stopped. */
  get server(): PlcServer {
    if (!this.last) throw new Error('the PLC directory was never started')
    return this.last
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    if (this.current) return
    const plc = await PlcServer.create({ port: this.port, host: '127.0.0.1', dbLocation: this.dbLocation })
    await plc.start()
    this.port = plc.port
    this.current = this.last = plc
  }

  async destroy(): Promise<void> {
    const plc = this.current
    this.current = null
    await plc?.destroy()
    await clientsSeeClose()
  }
}
