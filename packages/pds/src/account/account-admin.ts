import { sql } from 'kysely'
import { parseDidKey } from '@atproto/crypto'
import type { AccountDb } from '../db/index.ts'
import type { PlcIdentity } from '../identity/plc.ts'
import type { Account } from './account-manager.ts'
import { checkEmail } from './handle.ts'
import { InvalidRequest } from '../errors.ts'

// Operator (admin API) views and changes of accounts and invite codes. Reads
// include deactivated and taken-down accounts: an operator sees everything.

export type InviteCodeUse = { usedBy: string; usedAt: string }

export type InviteCodeDetail = {
  code: string
  available: number
  disabled: boolean
  forAccount: string
  createdBy: string
  createdAt: string
  uses: InviteCodeUse[]
}

export type AccountInvites = {
  /** codes the account may hand out */
  invites: InviteCodeDetail[]
  /** the code the account signed up with */
  invitedBy?: InviteCodeDetail
}

export type InviteSort = 'recent' | 'usage'

/** An invite_code row under the view's names (`available`); `disabled` as stored, 0 or 1. */
type InviteCodeRow = Omit<InviteCodeDetail, 'disabled' | 'uses'> & { disabled: number }

/** SQLite's bound-parameter limit is far above this; it keeps any one IN list modest. */
const IN_CHUNK = 500

const chunks = <T>(items: readonly T[]): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += IN_CHUNK) out.push(items.slice(i, i + IN_CHUNK))
  return out
}

const notFound = (account: string) => new InvalidRequest(`Account not found: ${account}`, 'AccountNotFound')

/** Keyset cursor `primary::secondary` (the reference PDS's shape). */
const parseCursor = (cursor: string): { primary: string; secondary: string } => {
  const at = cursor.indexOf('::')
  if (at < 1) throw new InvalidRequest('Malformed cursor')
  return { primary: cursor.slice(0, at), secondary: cursor.slice(at + 2) }
}

const parseCount = (s: string): number => {
  if (!/^\d{1,15}$/.test(s)) throw new InvalidRequest('Malformed cursor')
  return Number(s)
}

/** LIKE pattern matching `s` anywhere, with `%`, `_` and the escape character taken literally. */
const containsPattern = (s: string): string => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/**
 * Account and invite-code queries and updates for the admin API, over the
 * service database. Never touches repos, the PLC directory or the firehose.
 */
export class AccountAdmin {
  private readonly db: AccountDb

  constructor(db: AccountDb) {
    this.db = db
  }

  private get q() {
    return this.db.kysely
  }

  /** Accounts in the order asked, each once; unknown DIDs are left out. */
  async getAccounts(dids: readonly string[]): Promise<Account[]> {
    const unique = [...new Set(dids)]
    const byDid = new Map<string, Account>()
    for (const part of chunks(unique)) {
      for (const row of await this.q.selectFrom('account').selectAll().where('did', 'in', part).execute()) {
        byDid.set(row.did, row)
      }
    }
    return unique.flatMap((did) => byDid.get(did) ?? [])
  }

  /**
   * Accounts whose email contains `email` (case-insensitive; all accounts
   * when absent), in DID order. `cursor` is the last DID of the previous page.
   */
  async searchAccounts(opts: { email?: string; cursor?: string; limit: number }): Promise<{ accounts: Account[]; cursor?: string }> {
    let qb = this.q.selectFrom('account').selectAll().orderBy('did').limit(opts.limit)
    if (opts.email) {
      const pattern = containsPattern(opts.email.toLowerCase())
      qb = qb.where(sql<boolean>`${sql.ref('email')} LIKE ${pattern} ESCAPE '\\'`)
    }
    if (opts.cursor) qb = qb.where('did', '>', opts.cursor)
    const accounts = await qb.execute()
    const cursor = accounts.length === opts.limit ? accounts[accounts.length - 1].did : undefined
    return { accounts, cursor }
  }

  /** For each DID: the invite codes it owns and the code it was invited with. */
  async getInvites(dids: readonly string[]): Promise<Map<string, AccountInvites>> {
    const result = new Map<string, AccountInvites>(dids.map((did) => [did, { invites: [] }]))
    for (const part of chunks([...result.keys()])) {
      const owned = await this.codesQuery().where('forAccount', 'in', part).orderBy('createdAt', 'desc').execute()
      const used = await this.q.selectFrom('invite_code_use').select(['code', 'usedBy']).where('usedBy', 'in', part).execute()
      const usedCodes = [...new Set(used.map((u) => u.code))]
      const invitedBy = usedCodes.length > 0 ? await this.codesQuery().where('code', 'in', usedCodes).execute() : []
      const details = new Map((await this.withUses([...owned, ...invitedBy])).map((d) => [d.code, d]))
      for (const row of owned) {
        const detail = details.get(row.code)
        if (detail) result.get(row.forAccount)?.invites.push(detail)
      }
      for (const use of used) {
        const entry = result.get(use.usedBy)
        if (entry) entry.invitedBy = details.get(use.code)
      }
    }
    return result
  }

  /**
   * One page of all invite codes: `recent` is newest first, `usage` most
   * used first; ties broken by code, descending.
   */
  async listInviteCodes(opts: { sort: string; limit: number; cursor?: string }): Promise<{ codes: InviteCodeDetail[]; cursor?: string }> {
    if (opts.sort !== 'recent' && opts.sort !== 'usage') {
      throw new InvalidRequest(`Unknown sort method: ${opts.sort}`)
    }
    const sort: InviteSort = opts.sort
    const after = opts.cursor ? parseCursor(opts.cursor) : undefined
    let qb = this.codesQuery().limit(opts.limit)
    if (sort === 'recent') {
      qb = qb.orderBy('createdAt', 'desc').orderBy('code', 'desc')
      if (after) {
        const t = new Date(parseCount(after.primary))
        if (Number.isNaN(t.getTime())) throw new InvalidRequest('Malformed cursor')
        const createdAt = t.toISOString()
        qb = qb.where((eb) =>
          eb.or([eb('createdAt', '<', createdAt), eb.and([eb('createdAt', '=', createdAt), eb('code', '<', after.secondary)])]),
        )
      }
    } else {
      qb = qb.orderBy('uses', 'desc').orderBy('code', 'desc')
      if (after) {
        const uses = parseCount(after.primary)
        qb = qb.where((eb) => eb.or([eb('uses', '<', uses), eb.and([eb('uses', '=', uses), eb('code', '<', after.secondary)])]))
      }
    }
    const rows = await qb.execute()
    const last = rows.at(-1)
    const cursor =
      last && rows.length === opts.limit
        ? `${sort === 'recent' ? Date.parse(last.createdAt) : last.uses}::${last.code}`
        : undefined
    return { codes: await this.withUses(rows), cursor }
  }

  /** Disables the given codes and every code owned by the given accounts, in one transaction. */
  async disableInviteCodes(opts: { codes: readonly string[]; accounts: readonly string[] }): Promise<void> {
    if (opts.accounts.includes('admin')) throw new InvalidRequest('Cannot disable admin invite codes')
    await this.q.transaction().execute(async (tx) => {
      for (const part of chunks(opts.codes)) {
        await tx.updateTable('invite_code').set({ disabled: 1 }).where('code', 'in', part).execute()
      }
      for (const part of chunks(opts.accounts)) {
        await tx.updateTable('invite_code').set({ disabled: 1 }).where('forAccount', 'in', part).execute()
      }
    })
  }

  /** Whether the account may be issued invite codes; fails with AccountNotFound. */
  async setInvitesDisabled(did: string, disabled: boolean): Promise<void> {
    const res = await this.q
      .updateTable('account')
      .set({ invitesDisabled: disabled ? 1 : 0 })
      .where('did', '=', did)
      .executeTakeFirst()
    if (Number(res.numUpdatedRows) < 1) throw notFound(did)
  }

  /**
   * Sets the account's email: unconfirmed, and every outstanding email token
   * (which was sent to the old address) dropped. Setting the current address
   * again changes nothing. Fails with InvalidEmail, AccountNotFound, or
   * InvalidRequest when another account has the address.
   */
  async updateEmail(did: string, email: string): Promise<void> {
    const normalized = checkEmail(email)
    await this.q.transaction().execute(async (tx) => {
      const acc = await tx.selectFrom('account').select(['did', 'email']).where('did', '=', did).executeTakeFirst()
      if (!acc) throw notFound(did)
      if (acc.email === normalized) return
      const other = await tx.selectFrom('account').select('did').where('email', '=', normalized).executeTakeFirst()
      if (other) throw new InvalidRequest('This email address is already in use, please use a different email.')
      await tx.updateTable('account').set({ email: normalized, emailConfirmedAt: null }).where('did', '=', did).execute()
      await tx.deleteFrom('email_token').where('did', '=', did).execute()
    })
  }

  /** Drops the account's outstanding password-reset token (the password it would replace is gone). */
  async dropPasswordResetToken(did: string): Promise<void> {
    await this.q.deleteFrom('email_token').where('did', '=', did).where('purpose', '=', 'reset_password').execute()
  }

  /** invite_code rows with their use count as `uses`, so `usage` can sort and page on it. */
  private codesQuery() {
    const codes = this.q
      .selectFrom('invite_code')
      .select((eb) => [
        'invite_code.code as code',
        'invite_code.availableUses as available',
        'invite_code.disabled as disabled',
        'invite_code.forAccount as forAccount',
        'invite_code.createdBy as createdBy',
        'invite_code.createdAt as createdAt',
        eb
          .selectFrom('invite_code_use')
          .select((u) => u.fn.countAll<number>().as('n'))
          .whereRef('invite_code_use.code', '=', 'invite_code.code')
          .as('uses'),
      ])
    return this.q.selectFrom(codes.as('codes')).selectAll()
  }

  /** Rows as details, each with its uses (newest first). */
  private async withUses(rows: readonly InviteCodeRow[]): Promise<InviteCodeDetail[]> {
    const uses = new Map<string, InviteCodeUse[]>()
    for (const part of chunks([...new Set(rows.map((r) => r.code))])) {
      const useRows = await this.q.selectFrom('invite_code_use').selectAll().where('code', 'in', part).orderBy('usedAt', 'desc').execute()
      for (const u of useRows) {
        const list = uses.get(u.code) ?? []
        list.push({ usedBy: u.usedBy, usedAt: u.usedAt })
        uses.set(u.code, list)
      }
    }
    return rows.map((r) => ({
      code: r.code,
      available: r.available,
      disabled: r.disabled === 1,
      forAccount: r.forAccount,
      createdBy: r.createdBy,
      createdAt: r.createdAt,
      uses: uses.get(r.code) ?? [],
    }))
  }
}

const plcOnly = (did: string): void => {
  if (!did.startsWith('did:plc:')) throw new InvalidRequest(`Only did:plc identities are managed by this server: ${did}`)
}

/** A directory that does not know the DID answers 404: the operator's mistake, not ours. */
const atPlc = async <T>(did: string, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn()
  } catch (err) {
    const status = err instanceof Error && 'status' in err ? err.status : undefined
    if (status === 404) throw new InvalidRequest(`DID not found at the PLC directory: ${did}`)
    throw err
  }
}

/**
 * Points the DID document's handle at `handle` unless it already does, so an
 * operator can re-run a handle update to re-announce it without a new PLC op.
 */
export const setPlcHandle = async (plc: PlcIdentity, did: string, handle: string): Promise<void> => {
  plcOnly(did)
  const data = await atPlc(did, () => plc.getData(did))
  const current = data.alsoKnownAs.find((aka) => aka.startsWith('at://'))
  if (current === `at://${handle}`) return
  await atPlc(did, () => plc.updateHandle(did, handle))
}

/**
 * Replaces the `#atproto` verification method of the DID document with
 * `signingKey` (a did:key), signed by this server's PLC rotation key. Only the
 * document changes: the repo keeps its own signing key.
 */
export const setPlcSigningKey = async (plc: PlcIdentity, did: string, signingKey: string): Promise<void> => {
  plcOnly(did)
  try {
    parseDidKey(signingKey)
  } catch {
    throw new InvalidRequest(`Signing key must be a did:key of a supported curve: ${signingKey}`)
  }
  await atPlc(did, () => plc.updateAtprotoKey(did, signingKey))
}
