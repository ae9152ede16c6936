/**
 * Reading the app view as a user would before the PDS proxies for them: a
 * service JWT from the user's own PDS (`com.atproto.server.getServiceAuth`,
 * aud = the app view's DID, lxm = the method) on a direct call.
 */
import type { AtpAgent } from '@atproto/api'
import type { TestNetwork, TestUser } from '@atsuite/dev-env'

export const serviceAuth = async (net: TestNetwork, user: TestUser, lxm: string): Promise<{ authorization: string }> => {
  const res = await user.agent.com.atproto.server.getServiceAuth({ aud: net.appview.ctx.cfg.did, lxm })
  return { authorization: `Bearer ${res.data.token}` }
}

/** A GET on the app view as `user` (or anonymously), JSON body and status. */
export const appviewGet = async (
  net: TestNetwork,
  user: TestUser | null,
  nsid: string,
  params: Record<string, string | number | boolean | string[]> = {},
): Promise<{ status: number; body: any; headers: Headers }> => {
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item))
  }
  const headers = user ? await serviceAuth(net, user, nsid) : {}
  const res = await fetch(`${net.appview.url}/xrpc/${nsid}?${qs}`, { headers })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
}

/** A procedure (POST, JSON input) on the app view as `user` (or anonymously), JSON body (if any) and status. */
export const appviewPost = async (
  net: TestNetwork,
  user: TestUser | null,
  nsid: string,
  input: Record<string, unknown>,
): Promise<{ status: number; body: any }> => {
  const headers = { 'content-type': 'application/json', ...(user ? await serviceAuth(net, user, nsid) : {}) }
  const res = await fetch(`${net.appview.url}/xrpc/${nsid}`, { method: 'POST', headers, body: JSON.stringify(input) })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

export type { AtpAgent }
