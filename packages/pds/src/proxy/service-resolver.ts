import { isIP } from 'node:net'
import { getServiceEndpoint } from '@atproto/common'
import type { DidDocResolver } from '../identity/did-resolver.ts'
import { isValidDid, type DidString } from '@atproto/syntax'
import { InvalidRequest } from '../errors.ts'
import { proxyLogger as log } from '../logger.ts'

/** Where a forwarded call goes: the service's DID (the token's audience), its id in the DID document, its URL. */
export type ServiceTarget = { did: DidString; serviceId: string; url: string }

const TTL_MS = 5 * 60 * 1000
const CACHE_MAX = 1000

export type ServiceResolverOptions = {
  didResolver: Pick<DidDocResolver, 'resolve'>
  /** the configured app view (`#bsky_appview` of its DID needs no lookup) */
  appView?: { url: string; did: DidString }
  /** accept http:// and loopback endpoints from DID documents (dev mode) */
  allowInsecure: boolean
}

/**
 * Turns an `atproto-proxy` header (`<did>#<service id>`) into a service
 * endpoint through the DID's document (did:plc via the PLC directory, did:web
 * over https, or http for localhost), cached for a few minutes and forgotten
 * when the service cannot be reached. Always checks the header's shape and
 * that the document names the service with an http(s) URL; outside dev mode
 * the URL must be https and not a loopback or IP-literal host. Every failure
 * is the client's 400 with a message saying which part was wrong.
 */
export class ServiceResolver {
  private readonly opts: ServiceResolverOptions
  private readonly cache = new Map<string, { target: ServiceTarget; at: number }>()

  constructor(opts: ServiceResolverOptions) {
    this.opts = opts
  }

  /** The configured app view as a target, if any. */
  get appView(): ServiceTarget | null {
    const av = this.opts.appView
    return av ? { did: av.did, serviceId: 'bsky_appview', url: av.url } : null
  }

  async fromHeader(header: string): Promise<ServiceTarget> {
    const { did, serviceId } = parseProxyHeader(header)
    const av = this.opts.appView
    if (av && did === av.did && serviceId === 'bsky_appview') return { did, serviceId, url: av.url }
    const cached = this.cache.get(header)
    if (cached && Date.now() - cached.at < TTL_MS) return cached.target
    let doc
    try {
      doc = await this.opts.didResolver.resolve(did)
    } catch (err) {
      log.info({ err, did }, 'proxy DID did not resolve')
      throw new InvalidRequest(`could not resolve the DID of the atproto-proxy header: ${did}`)
    }
    if (!doc) throw new InvalidRequest(`could not resolve the DID of the atproto-proxy header: ${did}`)
    const url = getServiceEndpoint(doc, { id: `#${serviceId}` })
    if (!url) throw new InvalidRequest(`the DID document of ${did} names no service #${serviceId}`)
    this.checkEndpoint(url, did, serviceId)
    if (this.cache.size >= CACHE_MAX) this.cache.clear()
    const target = { did, serviceId, url }
    this.cache.set(header, { target, at: Date.now() })
    return target
  }

  /** Drops what is cached for a service that could not be reached (its document may have moved it). */
  forget(target: ServiceTarget): void {
    this.cache.delete(`${target.did}#${target.serviceId}`)
  }

  private checkEndpoint(url: string, did: string, serviceId: string): void {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new InvalidRequest(`the #${serviceId} service of ${did} has no valid URL`)
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new InvalidRequest(`the #${serviceId} service of ${did} is not an http(s) URL`)
    }
    if (this.opts.allowInsecure) return
    const host = parsed.hostname.replace(/^\[|\]$/g, '')
    if (parsed.protocol !== 'https:' || host === 'localhost' || host.endsWith('.localhost') || isIP(host) !== 0) {
      throw new InvalidRequest(`the #${serviceId} service of ${did} must be an https URL with a host name`)
    }
  }
}

/** `<did>#<service id>`, or a 400 naming what is wrong with it. */
export const parseProxyHeader = (header: string): { did: DidString; serviceId: string } => {
  const hash = header.indexOf('#')
  if (hash === 0) throw new InvalidRequest('no DID in the atproto-proxy header')
  if (hash === -1 || hash === header.length - 1) throw new InvalidRequest('no service id in the atproto-proxy header (<did>#<service id>)')
  if (header.indexOf('#', hash + 1) !== -1) throw new InvalidRequest('the atproto-proxy header must be <did>#<service id>')
  if (/\s/.test(header)) throw new InvalidRequest('the atproto-proxy header cannot contain spaces')
  const did = header.slice(0, hash)
  if (!isValidDid(did)) throw new InvalidRequest(`the atproto-proxy header does not name a DID: ${did}`)
  return { did, serviceId: header.slice(hash + 1) }
}
