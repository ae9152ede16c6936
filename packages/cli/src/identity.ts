import { AtpAgent } from '@atproto/api'
import { IdResolver } from '@atproto/identity'
import { getHandle, getPdsEndpoint, getSigningDidKey } from '@atproto/common-web'
import { CliError } from './errors.ts'
import { DEFAULT_PLC } from './defaults.ts'

export { DEFAULT_PLC }

export type Identity = { did: string; handle: string | undefined; pds: string; signingKey: string; doc: Record<string, unknown> }

/** Resolves DIDs (PLC directory `plcUrl`, did:web) and handles (a PDS's resolveHandle when given, else DNS / well-known). */
export class Resolver {
  readonly plcUrl: string
  private readonly idResolver: IdResolver

  constructor(plcUrl: string = DEFAULT_PLC) {
    this.plcUrl = plcUrl
    // plain fetch: local PLCs and PDSes are http://localhost
    this.idResolver = new IdResolver({ plcUrl, fetch: globalThis.fetch })
  }

  async did(identifier: string, opts: { pds?: string } = {}): Promise<string> {
    if (identifier.startsWith('did:')) return identifier
    const handle = identifier.replace(/^@/, '').toLowerCase()
    if (opts.pds) {
      try {
        const res = await new AtpAgent({ service: opts.pds }).com.atproto.identity.resolveHandle({ handle })
        return res.data.did
      } catch {
        // fall through to DNS / well-known
      }
    }
    const did = await this.idResolver.handle.resolve(handle).catch(() => undefined)
    if (!did) {
      throw new CliError(`could not resolve the handle ${handle}`, {
        hint: 'give the DID instead, or the PDS that hosts it with --pds',
      })
    }
    return did
  }

  async identity(identifier: string, opts: { pds?: string } = {}): Promise<Identity> {
    const did = await this.did(identifier, opts)
    let doc: unknown
    try {
      doc = await this.idResolver.did.resolve(did, true)
    } catch (err) {
      throw new CliError(`could not resolve ${did}: ${(err as Error).message}`, { hint: `is the PLC directory right? (--plc, now ${this.plcUrl})` })
    }
    if (!doc) throw new CliError(`${did} has no DID document at ${this.plcUrl}`, { hint: 'check --plc' })
    const pds = getPdsEndpoint(doc as never)
    const signingKey = getSigningDidKey(doc as never)
    if (!pds || !signingKey) throw new CliError(`${did}'s DID document names no PDS or no signing key`)
    return { did, handle: getHandle(doc as never), pds, signingKey, doc: doc as Record<string, unknown> }
  }
}
