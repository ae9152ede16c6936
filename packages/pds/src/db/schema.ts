// The service database (account.sqlite): accounts, sessions, app passwords,
// invites, email tokens and each repo's current head. Repo contents live in
// per-account actor stores.

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

export interface AccountDbSchema {
  account: AccountTable
  refresh_token: RefreshTokenTable
  app_password: AppPasswordTable
  invite_code: InviteCodeTable
  invite_code_use: InviteCodeUseTable
  email_token: EmailTokenTable
  repo_root: RepoRootTable
}
