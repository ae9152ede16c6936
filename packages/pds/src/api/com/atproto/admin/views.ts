import type { com } from '@atsuite/lexicon/com'
import type { LexMap } from '@atproto/lex-data'
import { INVALID_HANDLE, ifDatetimeString, isValidDid, isValidHandle, toDatetimeString } from '@atproto/syntax'
import type { Account } from '../../../../account/account-manager.ts'
import type { AccountInvites, InviteCodeDetail } from '../../../../account/account-admin.ts'

// Pure mappings from account rows to the admin lexicon's views. Stored values
// are narrowed by validating guards: a value that does not fit its format is
// left out (or, for a handle, shown as handle.invalid) rather than sent.

type AccountView = com.atproto.admin.defs.AccountView
type InviteCode = com.atproto.server.defs.InviteCode

export const inviteCodeView = (code: InviteCodeDetail): InviteCode => ({
  code: code.code,
  available: code.available,
  disabled: code.disabled,
  forAccount: code.forAccount,
  createdBy: code.createdBy,
  createdAt: toDatetimeString(code.createdAt),
  uses: code.uses.flatMap((use) => {
    const usedAt = ifDatetimeString(use.usedAt)
    return isValidDid(use.usedBy) && usedAt ? [{ usedBy: use.usedBy, usedAt }] : []
  }),
})

/** null when the stored DID is not one (never expected: accounts are created with validated DIDs). */
export const accountView = (acc: Account, invites: AccountInvites | undefined, relatedRecords: LexMap[]): AccountView | null => {
  if (!isValidDid(acc.did)) return null
  return {
    did: acc.did,
    handle: acc.handle !== null && isValidHandle(acc.handle) ? acc.handle : INVALID_HANDLE,
    email: acc.email ?? undefined,
    indexedAt: toDatetimeString(acc.createdAt),
    emailConfirmedAt: ifDatetimeString(acc.emailConfirmedAt ?? undefined),
    deactivatedAt: ifDatetimeString(acc.deactivatedAt ?? undefined),
    invitedBy: invites?.invitedBy ? inviteCodeView(invites.invitedBy) : undefined,
    invites: (invites?.invites ?? []).map(inviteCodeView),
    invitesDisabled: acc.invitesDisabled === 1,
    relatedRecords,
  }
}
