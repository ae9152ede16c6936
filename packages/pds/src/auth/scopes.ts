import { ScopeMissingError, type ScopePermissionsTransition } from '@atproto/oauth-scopes'
import { ForbiddenErr } from '../errors.ts'

export type OAuthPermissions = ScopePermissionsTransition

/**
 * What an OAuth session's scopes allow, checked where the request's details
 * are known (the collection of a write, the MIME type of a blob, the service
 * a call is forwarded to). A password or app-password session carries no
 * permissions and passes: its limits are the session's kind.
 */
export const checkScope = (creds: { permissions?: OAuthPermissions }, check: (p: OAuthPermissions) => void): void => {
  if (!creds.permissions) return
  try {
    check(creds.permissions)
  } catch (err) {
    if (err instanceof ScopeMissingError) {
      throw new ForbiddenErr(`This app was not granted the permission this needs: ${err.message}`, 'ScopeMissingError')
    }
    throw err
  }
}

export const checkRepoScope = (creds: { permissions?: OAuthPermissions }, action: 'create' | 'update' | 'delete', collection: string): void =>
  checkScope(creds, (p) => p.assertRepo({ action, collection }))

export const checkBlobScope = (creds: { permissions?: OAuthPermissions }, mime: string): void =>
  checkScope(creds, (p) => p.assertBlob({ mime }))

/** `aud` is the service's DID with its service fragment (`did:web:api.example#bsky_appview`). */
export const checkRpcScope = (creds: { permissions?: OAuthPermissions }, lxm: string, aud: string): void =>
  checkScope(creds, (p) => p.assertRpc({ lxm, aud }))
