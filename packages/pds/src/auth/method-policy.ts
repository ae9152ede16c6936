/**
 * Which XRPC methods may be reached through service auth or the proxy. NSID
 * authorities are case-insensitive (and express routes match paths without
 * case), so every check here compares lower-cased.
 */

/**
 * Account management must be called on the PDS directly, never authorised by
 * a service token nor forwarded (the reference PDS's list).
 */
const PROTECTED_METHODS = new Set(
  [
    'com.atproto.admin.sendEmail',
    'com.atproto.identity.requestPlcOperationSignature',
    'com.atproto.identity.signPlcOperation',
    'com.atproto.identity.updateHandle',
    'com.atproto.server.activateAccount',
    'com.atproto.server.confirmEmail',
    'com.atproto.server.createAppPassword',
    'com.atproto.server.deactivateAccount',
    'com.atproto.server.getAccountInviteCodes',
    'com.atproto.server.getSession',
    'com.atproto.server.listAppPasswords',
    'com.atproto.server.requestAccountDelete',
    'com.atproto.server.requestEmailConfirmation',
    'com.atproto.server.requestEmailUpdate',
    'com.atproto.server.revokeAppPassword',
    'com.atproto.server.updateEmail',
  ].map((m) => m.toLowerCase()),
)

/**
 * What the PDS answers for itself or not at all: its own namespaces (a
 * method of these it does not implement is its 501, not some other
 * service's answer) and the preferences it stores.
 */
const LOCAL_NAMESPACES = ['com.atproto.admin.', 'com.atproto.identity.', 'com.atproto.server.', 'com.atproto.sync.', 'com.atproto.repo.']
const LOCAL_METHODS = new Set(['app.bsky.actor.getpreferences', 'app.bsky.actor.putpreferences'])

export const isProtectedMethod = (nsid: string): boolean => PROTECTED_METHODS.has(nsid.toLowerCase())

/** Never forwarded, whatever `atproto-proxy` says. */
export const isLocalOnlyMethod = (nsid: string): boolean => {
  const lower = nsid.toLowerCase()
  return PROTECTED_METHODS.has(lower) || LOCAL_METHODS.has(lower) || LOCAL_NAMESPACES.some((ns) => lower.startsWith(ns))
}

/** Methods a plain (unprivileged) app password may not reach: DMs, account creation elsewhere. */
export const isPrivilegedMethod = (nsid: string): boolean => {
  const lower = nsid.toLowerCase()
  return lower.startsWith('chat.bsky.') || lower === 'com.atproto.server.createaccount'
}
