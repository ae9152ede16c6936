// The service database (account.sqlite): accounts, sessions, app passwords,
// invites, email tokens and each repo's current head. Repo contents live in
// per-account actor stores.

import type { Generated } from 'kysely'
import type { DatetimeString } from '@atproto/syntax'

export interface AccountTable {
  did: string
  handle: string | null
  email: string | null
  passwordScrypt: string | null
  emailConfirmedAt: string | null
  createdAt: string
  deactivatedAt: string | null
  deleteAfter: string | null
  takedownRef: string | null
  invitesDisabled: number
  /** 1: sign-in also needs a code mailed to the (confirmed) address */
  emailAuthFactor: Generated<number>
}

export interface RefreshTokenTable {
  id: string
  did: string
  appPasswordName: string | null
  expiresAt: string
  nextId: string | null
}

export interface AppPasswordTable {
  did: string
  name: string
  passwordScrypt: string
  createdAt: DatetimeString
  privileged: number
}

export interface InviteCodeTable {
  code: string
  availableUses: number
  disabled: number
  forAccount: string
  createdBy: string
  createdAt: string
}

export interface InviteCodeUseTable {
  code: string
  usedBy: string
  usedAt: string
}

export interface EmailTokenTable {
  purpose: string
  did: string
  token: string
  requestedAt: string
}

export interface RepoRootTable {
  did: string
  cid: string
  rev: string
  indexedAt: string
}

// OAuth (oauth/store.ts); dates as ISO strings, structured fields as JSON
export interface OAuthDeviceTable {
  id: string
  sessionId: string
  userAgent: string | null
  ipAddress: string
  lastSeenAt: string
}

export interface OAuthAccountDeviceTable {
  deviceId: string
  did: string
  createdAt: string
  updatedAt: string
}

export interface OAuthAuthorizedClientTable {
  did: string
  clientId: string
  data: string
  createdAt: string
  updatedAt: string
}

export interface OAuthRequestTable {
  id: string
  clientId: string
  clientAuth: string | null
  parameters: string
  expiresAt: string
  deviceId: string | null
  did: string | null
  code: string | null
}

export interface OAuthTokenTable {
  id: Generated<number>
  tokenId: string
  did: string
  clientId: string
  clientAuth: string
  deviceId: string | null
  parameters: string
  code: string | null
  currentRefreshToken: string | null
  scope: string | null
  createdAt: string
  updatedAt: string
  expiresAt: string
}

export interface OAuthUsedRefreshTokenTable {
  refreshToken: string
  tokenRowId: number
}

export interface OAuthLexiconTable {
  nsid: string
  data: string
}

export interface AccountDbSchema {
  account: AccountTable
  refresh_token: RefreshTokenTable
  app_password: AppPasswordTable
  invite_code: InviteCodeTable
  invite_code_use: InviteCodeUseTable
  email_token: EmailTokenTable
  repo_root: RepoRootTable
  oauth_device: OAuthDeviceTable
  oauth_account_device: OAuthAccountDeviceTable
  oauth_authorized_client: OAuthAuthorizedClientTable
  oauth_request: OAuthRequestTable
  oauth_token: OAuthTokenTable
  oauth_used_refresh_token: OAuthUsedRefreshTokenTable
  oauth_lexicon: OAuthLexiconTable
}
