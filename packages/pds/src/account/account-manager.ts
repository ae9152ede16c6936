import type Database from 'better-sqlite3'
import type { Kysely } from 'kysely'
import type { AccountDb } from '../db/index.ts'
import type { AccountDbSchema } from '../db/schema.ts'
import type { Selectable } from 'kysely'
import type { AccountTable } from '../db/schema.ts'
import { isValidHandle, toDatetimeString, type DidString, type HandleString } from '@atproto/syntax'
import { checkedDid } from '../identity/did.ts'
import { AuthError, InvalidRequest } from '../errors.ts'
import { AuthScope, type JwtIssuer } from '../auth/jwt.ts'
import { generateAppPassword, generateEmailToken, generateInviteCode, hashPassword, verifyPassword } from './password.ts'
import { seqLogger } from '../logger.ts'

/** An account row as stored (identifiers as plain text). */
export type Account = Selectable<AccountTable>

/**
 * An account as AccountManager reads it: the DID and handle checked, so they
 * can go out as the lexicons' `did` / `handle` formats. A stored handle that
 * is no longer a valid handle reads as null (shown as handle.invalid).
 */
export type HostedAccount = Account & { did: DidString; handle: HandleString | null }

const hosted = (row: Account | undefined): HostedAccount | undefined =>
  row && { ...row, did: checkedDid(row.did), handle: row.handle !== null && isValidHandle(row.handle) ? row.handle : null }

export type AccountStatus = 'active' | 'deactivated' | 'takendown' | 'deleted'

export const accountStatus = (acc: Account | undefined): AccountStatus => {
  if (!acc) return 'deleted'
  if (acc.takedownRef) return 'takendown'
  if (acc.deactivatedAt) return 'deactivated'
  return 'active'
}

export type EmailTokenPurpose = 'confirm_email' | 'update_email' | 'reset_password' | 'delete_account' | 'plc_operation' | 'sign_in'

const EMAIL_TOKEN_TTL_MS = 15 * 60 * 1000
/** how long a sequenced head may wait before it is written to repo_root */
const ROOTS_FLUSH_MS = 100
/** A rotated refresh token may be presented again this long (lost responses, racing tabs). */
const REFRESH_GRACE_MS = 2 * 60 * 60 * 1000

/** An invite code exists, is enabled and has uses left (read in the caller's transaction when given one). */
const assertInviteAvailable = async (q: Kysely<AccountDbSchema>, code: string): Promise<void> => {
  const invite = await q.selectFrom('invite_code').selectAll().where('code', '=', code).executeTakeFirst()
  const uses = await q
    .selectFrom('invite_code_use')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('code', '=', code)
    .executeTakeFirstOrThrow()
  if (!invite || invite.disabled || Number(uses.n) >= invite.availableUses) {
    throw new InvalidRequest('Provided invite code not available', 'InvalidInviteCode')
  }
}

/** What an authenticated request needs to know about its account. */
export type AuthStatus = { takendown: boolean; deactivated: boolean }

const STATUS_CACHE_MAX = 10_000

/**
 * Accounts, sessions, app passwords, invites and email tokens in the service
 * database. Never touches repos.
 */
export class AccountManager {
  private readonly db: AccountDb
  private readonly jwt: JwtIssuer

  constructor(db: AccountDb, jwt: JwtIssuer) {
    this.db = db
    this.jwt = jwt
  }

  private get q() {
    return this.db.kysely
  }

  /**
   * What every authenticated request checks (the account exists, is not
   * taken down, is active), read once per account and kept: every change to
   * it goes through this class (createAccount, setDeactivated, setTakedown,
   * deleteAccount), which forgets the account's entry. A read that an
   * invalidation overtook is not kept.
   */
  private readonly statuses = new Map<string, AuthStatus | null>()
  private statusEpoch = 0

  async authStatus(did: string): Promise<AuthStatus | null> {
    const hit = this.statuses.get(did)
    if (hit !== undefined) return hit
    const epoch = this.statusEpoch
    const row = await this.q.selectFrom('account').select(['takedownRef', 'deactivatedAt']).where('did', '=', did).executeTakeFirst()
    const status = row ? { takendown: row.takedownRef !== null, deactivated: row.deactivatedAt !== null } : null
    if (epoch === this.statusEpoch) {
      if (this.statuses.size >= STATUS_CACHE_MAX) this.statuses.clear()
      this.statuses.set(did, status)
    }
    return status
  }

  private statusChanged(did: string): void {
    this.statusEpoch++
    this.statuses.delete(did)
  }

  /**
   * One account by handle or DID. Every read of a repo asks (getRecord,
   * listRecords, getRepo...), so it is a prepared statement on the raw handle
   * (~11 µs a call) rather than a query built by Kysely per call (~17 µs).
   */
  async getAccount(handleOrDid: string): Promise<HostedAccount | undefined> {
    const row = handleOrDid.startsWith('did:')
      ? (this.byDidStmt ??= this.db.sqlite.prepare('SELECT * FROM account WHERE did = ?')).get(handleOrDid)
      : (this.byHandleStmt ??= this.db.sqlite.prepare('SELECT * FROM account WHERE handle = ?')).get(handleOrDid.toLowerCase())
    return hosted(row as Account | undefined)
  }

  private byDidStmt: Database.Statement | undefined
  private byHandleStmt: Database.Statement | undefined

  async getAccountByEmail(email: string): Promise<HostedAccount | undefined> {
    return hosted(await this.q.selectFrom('account').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst())
  }

  async isHandleTaken(handle: string): Promise<boolean> {
    return (await this.q.selectFrom('account').select('did').where('handle', '=', handle).executeTakeFirst()) !== undefined
  }

  async isEmailTaken(email: string): Promise<boolean> {
    return (await this.getAccountByEmail(email)) !== undefined
  }

  async createAccount(opts: {
    did: string
    handle: string
    email?: string
    password?: string
    inviteCode?: string
    deactivated?: boolean
  }): Promise<void> {
    const passwordScrypt = opts.password ? await hashPassword(opts.password) : null
    const now = new Date().toISOString()
    await this.q.transaction().execute(async (tx) => {
      if (opts.inviteCode) {
        await assertInviteAvailable(tx, opts.inviteCode)
        await tx.insertInto('invite_code_use').values({ code: opts.inviteCode, usedBy: opts.did, usedAt: now }).execute()
      }
      await tx
        .insertInto('account')
        .values({
          did: opts.did,
          handle: opts.handle,
          email: opts.email?.toLowerCase() ?? null,
          passwordScrypt,
          emailConfirmedAt: null,
          createdAt: now,
          deactivatedAt: opts.deactivated ? now : null,
          deleteAfter: null,
          takedownRef: null,
          invitesDisabled: 0,
        })
        .execute()
    })
    // after the write: a read it overtook is not kept (see authStatus)
    this.statusChanged(opts.did)
  }

  async checkInviteCode(code: string): Promise<void> {
    await assertInviteAvailable(this.q, code)
  }

  async updateHandle(did: string, handle: string): Promise<void> {
    const res = await this.q
      .updateTable('account')
      .set({ handle })
      .where('did', '=', did)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('account as other').select('did').where('other.handle', '=', handle).where('other.did', '!=', did))))
      .executeTakeFirst()
    if (Number(res.numUpdatedRows) < 1) throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
  }

  async updateEmail(did: string, email: string): Promise<void> {
    try {
      // a new address is unconfirmed, so it cannot carry sign-in codes until it is
      await this.q.updateTable('account').set({ email: email.toLowerCase(), emailConfirmedAt: null, emailAuthFactor: 0 }).where('did', '=', did).execute()
    } catch {
      throw new InvalidRequest('This email address is already in use, please use a different email.')
    }
  }

  /** Turns the emailed sign-in code on or off (the caller checks the address is confirmed). */
  async setEmailAuthFactor(did: string, on: boolean): Promise<void> {
    await this.q.updateTable('account').set({ emailAuthFactor: on ? 1 : 0 }).where('did', '=', did).execute()
  }

  async confirmEmail(did: string): Promise<void> {
    await this.q.updateTable('account').set({ emailConfirmedAt: new Date().toISOString() }).where('did', '=', did).execute()
  }

  async updatePassword(did: string, password: string): Promise<void> {
    const passwordScrypt = await hashPassword(password)
    await this.q.transaction().execute(async (tx) => {
      await tx.updateTable('account').set({ passwordScrypt }).where('did', '=', did).execute()
      await tx.deleteFrom('refresh_token').where('did', '=', did).execute()
    })
  }

  async setDeactivated(did: string, deactivated: boolean, deleteAfter?: string): Promise<void> {
    try {
      await this.q
        .updateTable('account')
        .set(deactivated ? { deactivatedAt: new Date().toISOString(), deleteAfter: deleteAfter ?? null } : { deactivatedAt: null, deleteAfter: null })
        .where('did', '=', did)
        .execute()
    } finally {
      this.statusChanged(did)
    }
  }

  async setTakedown(did: string, ref: string | null): Promise<void> {
    try {
      await this.q.updateTable('account').set({ takedownRef: ref }).where('did', '=', did).execute()
    } finally {
      this.statusChanged(did)
    }
  }

  async deleteAccount(did: string): Promise<void> {
    this.pendingRoots.delete(did)
    try {
      await this.q.transaction().execute(async (tx) => {
        for (const t of ['refresh_token', 'app_password', 'email_token', 'repo_root'] as const) {
          await tx.deleteFrom(t).where('did', '=', did).execute()
        }
        await tx.deleteFrom('account').where('did', '=', did).execute()
      })
    } finally {
      this.statusChanged(did)
    }
  }

  // credentials

  /** Checks a login password: the account password, or an app password. */
  async verifyLogin(
    acc: Account,
    password: string,
  ): Promise<{ appPassword: { name: string; privileged: boolean } | null } | null> {
    if (acc.passwordScrypt && (await verifyPassword(password, acc.passwordScrypt))) {
      return { appPassword: null }
    }
    const appPws = await this.q.selectFrom('app_password').selectAll().where('did', '=', acc.did).execute()
    for (const ap of appPws) {
      if (await verifyPassword(password, ap.passwordScrypt)) {
        return { appPassword: { name: ap.name, privileged: ap.privileged === 1 } }
      }
    }
    return null
  }

  async createSession(
    did: string,
    appPassword: { name: string; privileged: boolean } | null,
  ): Promise<{ accessJwt: string; refreshJwt: string }> {
    const scope = appPassword
      ? appPassword.privileged
        ? AuthScope.AppPassPrivileged
        : AuthScope.AppPass
      : AuthScope.Access
    const [accessJwt, refresh] = await Promise.all([
      this.jwt.createAccessToken(did, scope),
      this.jwt.createRefreshToken(did),
    ])
    await this.q
      .insertInto('refresh_token')
      .values({
        id: refresh.jti,
        did,
        appPasswordName: appPassword?.name ?? null,
        expiresAt: new Date(refresh.exp * 1000).toISOString(),
        nextId: null,
      })
      .execute()
    return { accessJwt, refreshJwt: refresh.jwt }
  }

  /**
   * Rotates a refresh token. The old token stays usable for a grace period
   * and then always yields the same successor, so a client that lost the
   * response can retry without being logged out.
   */
  async rotateRefreshToken(jti: string): Promise<{ did: string; accessJwt: string; refreshJwt: string }> {
    const row = await this.q.selectFrom('refresh_token').selectAll().where('id', '=', jti).executeTakeFirst()
    if (!row) throw new AuthError('Token has been revoked', 'ExpiredToken')
    const now = Date.now()
    if (Date.parse(row.expiresAt) < now) throw new AuthError('Token has expired', 'ExpiredToken')
    let appPassword: { name: string; privileged: boolean } | null = null
    if (row.appPasswordName) {
      const ap = await this.q
        .selectFrom('app_password')
        .selectAll()
        .where('did', '=', row.did)
        .where('name', '=', row.appPasswordName)
        .executeTakeFirst()
      if (!ap) throw new AuthError('Token has been revoked', 'ExpiredToken')
      appPassword = { name: ap.name, privileged: ap.privileged === 1 }
    }
    const scope = appPassword
      ? appPassword.privileged
        ? AuthScope.AppPassPrivileged
        : AuthScope.AppPass
      : AuthScope.Access
    const nextId = row.nextId ?? (await this.jwt.createRefreshToken(row.did)).jti
    const [accessJwt, refresh] = await Promise.all([
      this.jwt.createAccessToken(row.did, scope),
      this.jwt.createRefreshToken(row.did, nextId),
    ])
    const graceExpiry = new Date(Math.min(now + REFRESH_GRACE_MS, Date.parse(row.expiresAt))).toISOString()
    await this.q.transaction().execute(async (tx) => {
      if (!row.nextId) {
        await tx.updateTable('refresh_token').set({ nextId, expiresAt: graceExpiry }).where('id', '=', jti).execute()
      }
      await tx
        .insertInto('refresh_token')
        .values({
          id: nextId,
          did: row.did,
          appPasswordName: row.appPasswordName,
          expiresAt: new Date(refresh.exp * 1000).toISOString(),
          nextId: null,
        })
        // a re-issued successor keeps its row: if it was rotated already, its
        // grace-shortened expiry must not be stretched back out
        .onConflict((oc) => oc.column('id').doNothing())
        .execute()
    })
    return { did: row.did, accessJwt, refreshJwt: refresh.jwt }
  }

  /**
   * Revokes a refresh token together with the rest of its rotation chain:
   * rotated predecessors still in their grace period (presenting one would
   * re-issue the revoked successor and undo the logout) and any successor
   * (logging out with an older token still ends the session).
   */
  async revokeRefreshToken(jti: string): Promise<void> {
    await this.q.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('refresh_token').select('did').where('id', '=', jti).executeTakeFirst()
      if (!row) return
      const seen = new Set<string>()
      let frontier = [jti]
      while (frontier.length > 0) {
        for (const id of frontier) seen.add(id)
        // scoped by did: the did index keeps this off a full scan
        const linked = await tx
          .selectFrom('refresh_token')
          .select(['id', 'nextId'])
          .where('did', '=', row.did)
          .where((eb) => eb.or([eb('nextId', 'in', frontier), eb('id', 'in', frontier)]))
          .execute()
        await tx.deleteFrom('refresh_token').where('id', 'in', frontier).execute()
        const next = new Set<string>()
        for (const l of linked) {
          for (const id of [l.id, l.nextId]) if (id && !seen.has(id)) next.add(id)
        }
        frontier = [...next]
      }
    })
  }

  async refreshTokenExists(jti: string): Promise<boolean> {
    return (await this.q.selectFrom('refresh_token').select('id').where('id', '=', jti).executeTakeFirst()) !== undefined
  }

  // app passwords

  async createAppPassword(did: string, name: string, privileged: boolean) {
    const password = generateAppPassword()
    const passwordScrypt = await hashPassword(password)
    const createdAt = toDatetimeString(new Date())
    try {
      await this.q.insertInto('app_password').values({ did, name, passwordScrypt, createdAt, privileged: privileged ? 1 : 0 }).execute()
    } catch {
      throw new InvalidRequest(`An app password named "${name}" already exists`, 'DuplicateName')
    }
    return { name, password, createdAt, privileged }
  }

  async listAppPasswords(did: string) {
    const rows = await this.q.selectFrom('app_password').select(['name', 'createdAt', 'privileged']).where('did', '=', did).orderBy('createdAt', 'desc').execute()
    return rows.map((r) => ({ name: r.name, createdAt: r.createdAt, privileged: r.privileged === 1 }))
  }

  async revokeAppPassword(did: string, name: string): Promise<void> {
    await this.q.transaction().execute(async (tx) => {
      await tx.deleteFrom('app_password').where('did', '=', did).where('name', '=', name).execute()
      await tx.deleteFrom('refresh_token').where('did', '=', did).where('appPasswordName', '=', name).execute()
    })
  }

  // invites

  async createInviteCodes(opts: { forAccount: string; createdBy: string; useCount: number; count: number; hostname: string }) {
    const codes = Array.from({ length: opts.count }, () => generateInviteCode(opts.hostname))
    const createdAt = new Date().toISOString()
    await this.q
      .insertInto('invite_code')
      .values(codes.map((code) => ({ code, availableUses: opts.useCount, disabled: 0, forAccount: opts.forAccount, createdBy: opts.createdBy, createdAt })))
      .execute()
    return codes
  }

  // email tokens

  async createEmailToken(did: string, purpose: EmailTokenPurpose): Promise<string> {
    const token = generateEmailToken()
    await this.q
      .insertInto('email_token')
      .values({ purpose, did, token, requestedAt: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['purpose', 'did']).doUpdateSet({ token, requestedAt: new Date().toISOString() }))
      .execute()
    return token
  }

  /** Consumes a token; returns the account it was for. */
  async consumeEmailToken(purpose: EmailTokenPurpose, token: string, did?: string): Promise<string> {
    let q = this.q.selectFrom('email_token').selectAll().where('purpose', '=', purpose).where('token', '=', token.toUpperCase())
    if (did) q = q.where('did', '=', did)
    const row = await q.executeTakeFirst()
    if (!row) throw new InvalidRequest('Token is invalid', 'InvalidToken')
    await this.q.deleteFrom('email_token').where('purpose', '=', purpose).where('did', '=', row.did).execute()
    if (Date.now() - Date.parse(row.requestedAt) > EMAIL_TOKEN_TTL_MS) {
      throw new InvalidRequest('Token is expired', 'ExpiredToken')
    }
    return row.did
  }

  // repo heads (for listRepos / getLatestCommit without opening every store)

  private setRootStmt: Database.Statement | undefined
  /** heads recorded since the last flush */
  private readonly pendingRoots = new Map<string, { cid: string; rev: string; at: string }>()
  private rootsTimer: NodeJS.Timeout | null = null

  /**
   * Records the head last sequenced for `did`. Written behind: within 100 ms,
   * in one transaction with every other account's (listRepos and shutdown
   * flush first), so a commit does not pay for a transaction of its own here.
   * A head a crash loses only makes the start-up recovery look the account's
   * newest outbox event up in the log (sequencer/commits.ts).
   */
  setRepoRoot(did: string, cid: string, rev: string): void {
    this.pendingRoots.set(did, { cid, rev, at: new Date().toISOString() })
    if (this.rootsTimer) return
    this.rootsTimer = setTimeout(() => {
      try {
        this.flushRoots()
      } catch (err) {
        seqLogger.error({ err }, 'recording sequenced heads failed; retried with the next commit')
      }
    }, ROOTS_FLUSH_MS)
    this.rootsTimer.unref()
  }

  /** Writes the heads recorded since the last flush. On failure they stay pending. */
  flushRoots(): void {
    if (this.rootsTimer) clearTimeout(this.rootsTimer)
    this.rootsTimer = null
    if (this.pendingRoots.size === 0) return
    this.setRootStmt ??= this.db.sqlite.prepare(
      `INSERT INTO repo_root (did, cid, rev, indexedAt) VALUES (?, ?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexedAt = excluded.indexedAt`,
    )
    const rows = [...this.pendingRoots]
    this.db.sqlite.transaction(() => {
      for (const [did, r] of rows) this.setRootStmt!.run(did, r.cid, r.rev, r.at)
    })()
    // only what is still the latest: a head recorded during the flush stays pending
    for (const [did, r] of rows) if (this.pendingRoots.get(did) === r) this.pendingRoots.delete(did)
  }

  private rootRevStmt: Database.Statement | undefined

  /** The rev of the head last recorded for `did` (the last one sequenced). */
  repoRootRev(did: string): string | undefined {
    const pending = this.pendingRoots.get(did)
    if (pending) return pending.rev
    this.rootRevStmt ??= this.db.sqlite.prepare('SELECT rev FROM repo_root WHERE did = ?')
    return (this.rootRevStmt.get(did) as { rev: string } | undefined)?.rev
  }

  async listRepos(limit: number, cursor?: string) {
    this.flushRoots()
    let q = this.q
      .selectFrom('account')
      .innerJoin('repo_root', 'repo_root.did', 'account.did')
      .select(['account.did', 'account.deactivatedAt', 'account.takedownRef', 'repo_root.cid', 'repo_root.rev'])
      .orderBy('account.did')
      .limit(limit)
    if (cursor) q = q.where('account.did', '>', cursor)
    return (await q.execute()).map((r) => ({ ...r, did: checkedDid(r.did) }))
  }
}
