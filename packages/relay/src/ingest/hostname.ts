import { InvalidRequestError } from '../errors.ts'

// Host names as the relay keys them: lower-case `host[:port]`, no scheme,
// no path, default ports dropped. Loopback names are interchangeable when
// comparing a sending host with a DID document's PDS endpoint.

const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

/** `https://PDS.example.com/xrpc/...` → `pds.example.com`. Throws InvalidRequestError when it is not a host name. */
export const normalizeHostname = (input: string): string => {
  let s = input.trim().toLowerCase()
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//.exec(s)
  const insecure = scheme !== null && (scheme[0] === 'http://' || scheme[0] === 'ws://')
  if (scheme) s = s.slice(scheme[0].length)
  s = s.split(/[/?#]/)[0]
  if (s.endsWith('.')) s = s.slice(0, -1)
  if (insecure && s.endsWith(':80')) s = s.slice(0, -3)
  if (!insecure && s.endsWith(':443')) s = s.slice(0, -4)
  if (!s || s.length > 253 || !HOST_RE.test(s)) throw new InvalidRequestError(`not a valid hostname: ${JSON.stringify(input)}`)
  const port = s.includes(':') ? Number(s.split(':')[1]) : 0
  if (port > 65535) throw new InvalidRequestError(`not a valid hostname: ${JSON.stringify(input)}`)
  return s
}

export const hostOnly = (hostname: string): string => hostname.replace(/:\d+$/, '')

export const isLoopback = (hostname: string): boolean => LOOPBACK.has(hostOnly(hostname))

const isIpAddress = (hostname: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(hostOnly(hostname))

/**
 * Whether the relay may subscribe to this host at all. Always refuses raw IP
 * addresses and single-label names except loopback, and loopback unless the
 * relay allows insecure (local) hosts.
 */
export const checkHostAllowed = (hostname: string, allowInsecure: boolean): void => {
  if (isLoopback(hostname)) {
    if (!allowInsecure) throw new InvalidRequestError(`${hostname}: local hosts are not accepted by this relay`)
    return
  }
  if (isIpAddress(hostname)) throw new InvalidRequestError(`${hostname}: IP addresses are not accepted, use a hostname`)
  if (!hostOnly(hostname).includes('.') && !allowInsecure) throw new InvalidRequestError(`${hostname}: not a public hostname`)
}

/** `http://` for loopback hosts of a local relay, `https://` for everything else. */
export const httpBase = (hostname: string, allowInsecure: boolean): string =>
  `${allowInsecure && isLoopback(hostname) ? 'http' : 'https'}://${hostname}`

export const wsBase = (hostname: string, allowInsecure: boolean): string =>
  `${allowInsecure && isLoopback(hostname) ? 'ws' : 'wss'}://${hostname}`

/** The host key of a PDS endpoint URL from a DID document, or null when it is not a URL. */
export const hostFromEndpoint = (endpoint: string): string | null => {
  try {
    const url = new URL(endpoint)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
    return normalizeHostname(`${url.protocol}//${url.host}`)
  } catch {
    return null
  }
}

/** Same host, treating loopback names as one. */
export const sameHost = (a: string, b: string): boolean => {
  if (a === b) return true
  if (!isLoopback(a) || !isLoopback(b)) return false
  return (a.match(/:(\d+)$/)?.[1] ?? '') === (b.match(/:(\d+)$/)?.[1] ?? '')
}
