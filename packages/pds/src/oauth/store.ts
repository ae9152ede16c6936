import type {
  Account,
  AccountStore,
  AuthenticateAccountData,
  AuthorizedClientData,
  AuthorizedClients,
  ClientId,
  CreateAccountData,
  CreateTokenData,
  DeactivateAccountData,
  DeleteAccountConfirmInput,
  DeleteAccountRequestInput,
  DeviceAccount,
  DeviceData,
  DeviceId,
  DeviceStore,
  FoundRequestResult,
  LexiconData,
  LexiconStore,
  NewTokenData,
  ReactivateAccountData,
  RefreshToken,
  RequestData,
  RequestId,
  RequestStore,
  ResetPasswordConfirmInput,
  ResetPasswordRequestInput,
  TokenData,
  TokenId,
  TokenInfo,
  TokenStore,
  UpdateEmailConfirmInput,
  UpdateEmailRequestInput,
  UpdateEmailRequestOutput,
  UpdateHandleData,
  UpdateRequestData,
  VerifyEmailConfirmInput,
  VerifyEmailRequestInput,
} from '@atproto/oauth-provider/store'
import type { Code } from '@atproto/oauth-provider/store'
import {
  HandleUnavailableError,
  InvalidCredentialsError,
  InvalidRequestError,
  SecondAuthenticationFactorRequiredError,
} from '@atproto/oauth-provider/errors'
import type { Did } from '@atproto/did'
import type { Selectable } from 'kysely'
import type { OAuthDeviceTable, OAuthRequestTable, OAuthTokenTable } from '../db/schema.ts'
import type { HandleString } from '@atproto/syntax'
import { DomainError } from '@atsuite/common'
import type { AppContext } from '../context.ts'
import type { HostedAccount } from '../account/account-manager.ts'
import { createHostedAccount } from '../account/create-account.ts'
import { checkEmail, checkPassword, checkServiceHandle } from '../account/handle.ts'
import { changeHandle } from '../account/change-handle.ts'
import { purgeAccount } from '../account/purge-account.ts'
import { mailSignInCode, maskedEmail, needsSignInCode } from '../account/sign-in-code.ts'
import { accountEvent } from '../sequencer/events.ts'

const iso = (d: Date): string => d.toISOString()
const json = (v: unknown): string => JSON.stringify(v)
const parse = <T>(s: string): T => JSON.parse(s) as T

/**
 * Our account errors (XRPC-shaped, with lexicon names) as the OAuth
 * provider's: a taken or malformed handle becomes HandleUnavailableError (the
 * sign-up page shows it beside the field), anything else of ours an
 * InvalidRequestError carrying our message. Other errors pass as they are.
 */
const asOAuthError = (err: unknown): unknown => {
  if (!(err instanceof DomainError)) return err
  if (err.errorName === 'HandleNotAvailable') return new HandleUnavailableError('taken', err.message, err)
  if (err.errorName === 'InvalidHandle') return new HandleUnavailableError('syntax', err.message, err)
  if (err.errorName === 'UnsupportedDomain') return new HandleUnavailableError('domain', err.message, err)
  return new InvalidRequestError(err.message, err)
}
const mapped = async <T>(fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn()
  } catch (err) {
    throw asOAuthError(err)
  }
}

/**
 * The OAuth authorization server's state in the service database
 * (account.sqlite, tables `oauth_*`, migration 003), and its account
 * operations done by the same code the XRPC methods use. The provider calls
 * these; nothing else writes the tables.
 */
export class OAuthStore implements AccountStore, DeviceStore, RequestStore, TokenStore, LexiconStore {
  private readonly ctx: AppContext

  constructor(ctx: AppContext) {
    this.ctx = ctx
  }

  private get q() {
    return this.ctx.accountDb.kysely
  }

  // --- accounts --------------------------------------------------------

  /** What the sign-in pages show of an account: handle, email, and the profile's name and avatar. */
  private async account(acc: HostedAccount): Promise<Account> {
    const out: Account = {
      did: acc.did,
      pds: this.ctx.cfg.service.did,
      handle: acc.handle ?? undefined,
      email: acc.email ?? undefined,
      emailVerified: acc.email ? acc.emailConfirmedAt !== null : undefined,
      deactivated: acc.deactivatedAt !== null,
    }
    try {
      const profile = this.ctx.repoReader.getRecord(acc.did, 'app.bsky.actor.profile', 'self')?.value as
        | { displayName?: unknown; avatar?: { ref?: { toString(): string } } }
        | undefined
      if (typeof profile?.displayName === 'string' && profile.displayName) out.name = profile.displayName
      const avatar = profile?.avatar?.ref?.toString()
      if (avatar) {
        out.picture = `${this.ctx.cfg.service.publicUrl}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(acc.did)}&cid=${avatar}`
      }
    } catch {
      // a repo that cannot be read shows the handle alone
    }
    return out
  }

  private async hosted(did: string): Promise<HostedAccount> {
    const acc = await this.ctx.accounts.getAccount(did)
    if (!acc) throw new InvalidRequestError('Account not found')
    if (acc.takedownRef) throw new InvalidRequestError('Account has been taken down')
    return acc
  }

  private async authorizedClients(did: string): Promise<AuthorizedClients> {
    const rows = await this.q.selectFrom('oauth_authorized_client').selectAll().where('did', '=', did).execute()
    return new Map(rows.map((r) => [r.clientId as ClientId, parse<AuthorizedClientData>(r.data)]))
  }

  async createAccount(data: CreateAccountData): Promise<Account> {
    const { did } = await mapped(() => createHostedAccount(this.ctx, data))
    return this.account(await this.hosted(did))
  }

  async authenticateAccount({ username, password, emailOtp }: AuthenticateAccountData): Promise<Account> {
    const id = username.trim()
    const acc = id.includes('@') ? await this.ctx.accounts.getAccountByEmail(id) : await this.ctx.accounts.getAccount(id)
    if (!acc) throw new InvalidCredentialsError('Invalid identifier or password')
    const login = await this.ctx.accounts.verifyLogin(acc, password)
    if (!login) throw new InvalidCredentialsError('Invalid identifier or password', acc.did)
    // an app password is for one app's legacy session, never an OAuth grant
    if (login.appPassword) throw new InvalidCredentialsError('App passwords cannot be used to sign in here: use your account password', acc.did)
    if (acc.takedownRef) throw new InvalidRequestError('This account has been taken down')
    if (needsSignInCode(acc)) {
      if (!emailOtp) {
        await mailSignInCode(this.ctx, acc)
        throw new SecondAuthenticationFactorRequiredError('emailOtp', maskedEmail(acc.email!))
      }
      try {
        await this.ctx.accounts.consumeEmailToken('sign_in', emailOtp.trim(), acc.did)
      } catch (err) {
        throw new InvalidCredentialsError('Wrong or expired sign-in code: ask for a new one', acc.did, err)
      }
    }
    return this.account(acc)
  }

  async setAuthorizedClient(did: Did, clientId: ClientId, data: AuthorizedClientData): Promise<void> {
    const now = iso(new Date())
    await this.q
      .insertInto('oauth_authorized_client')
      .values({ did, clientId, data: json(data), createdAt: now, updatedAt: now })
      .onConflict((oc) => oc.columns(['did', 'clientId']).doUpdateSet({ data: json(data), updatedAt: now }))
      .execute()
  }

  async getAccount(did: Did): Promise<{ account: Account; authorizedClients: AuthorizedClients }> {
    const acc = await this.hosted(did)
    return { account: await this.account(acc), authorizedClients: await this.authorizedClients(did) }
  }

  async upsertDeviceAccount(deviceId: DeviceId, did: Did): Promise<void> {
    const now = iso(new Date())
    await this.q
      .insertInto('oauth_account_device')
      .values({ deviceId, did, createdAt: now, updatedAt: now })
      .onConflict((oc) => oc.columns(['deviceId', 'did']).doUpdateSet({ updatedAt: now }))
      .execute()
  }

  private deviceAccounts() {
    return this.q
      .selectFrom('oauth_account_device as ad')
      .innerJoin('oauth_device as d', 'd.id', 'ad.deviceId')
      .select(['ad.deviceId', 'ad.did', 'ad.createdAt', 'ad.updatedAt', 'd.sessionId', 'd.userAgent', 'd.ipAddress', 'd.lastSeenAt'])
  }

  private async toDeviceAccounts(
    rows: Awaited<ReturnType<ReturnType<OAuthStore['deviceAccounts']>['execute']>>,
  ): Promise<DeviceAccount[]> {
    const out: DeviceAccount[] = []
    const byDid = new Map<string, { account: Account; clients: AuthorizedClients } | null>()
    for (const row of rows) {
      if (!byDid.has(row.did)) {
        const acc = await this.ctx.accounts.getAccount(row.did)
        byDid.set(row.did, acc && !acc.takedownRef ? { account: await this.account(acc), clients: await this.authorizedClients(row.did) } : null)
      }
      const found = byDid.get(row.did)
      if (!found) continue
      out.push({
        deviceId: row.deviceId as DeviceId,
        deviceData: rowToDevice(row),
        account: found.account,
        authorizedClients: found.clients,
        createdAt: new Date(row.createdAt),
        updatedAt: new Date(row.updatedAt),
      })
    }
    return out
  }

  async getDeviceAccount(deviceId: DeviceId, did: Did): Promise<DeviceAccount | null> {
    const rows = await this.deviceAccounts().where('ad.deviceId', '=', deviceId).where('ad.did', '=', did).execute()
    return (await this.toDeviceAccounts(rows))[0] ?? null
  }

  async removeDeviceAccount(deviceId: DeviceId, did: Did): Promise<void> {
    await this.q.deleteFrom('oauth_account_device').where('deviceId', '=', deviceId).where('did', '=', did).execute()
  }

  async listDeviceAccounts(filter: { did: Did } | { deviceId: DeviceId }): Promise<DeviceAccount[]> {
    const base = this.deviceAccounts().orderBy('ad.updatedAt', 'desc')
    const rows = 'did' in filter ? await base.where('ad.did', '=', filter.did).execute() : await base.where('ad.deviceId', '=', filter.deviceId).execute()
    return this.toDeviceAccounts(rows)
  }

  async resetPasswordRequest({ email }: ResetPasswordRequestInput): Promise<Account | null> {
    const acc = await this.ctx.accounts.getAccountByEmail(email)
    if (!acc?.email || acc.takedownRef) return null
    const token = await this.ctx.accounts.createEmailToken(acc.did, 'reset_password')
    await this.ctx.mailer.sendToken(acc.email, 'reset_password', token, 'reset your password')
    return this.account(acc)
  }

  async resetPasswordConfirm({ token, password }: ResetPasswordConfirmInput): Promise<Account | null> {
    return mapped(async () => {
      checkPassword(password)
      const did = await this.ctx.accounts.consumeEmailToken('reset_password', token)
      await this.ctx.accounts.updatePassword(did, password)
      return this.account(await this.hosted(did))
    })
  }

  async updateEmailRequest({ did }: UpdateEmailRequestInput): Promise<UpdateEmailRequestOutput> {
    const acc = await this.hosted(did)
    // an unconfirmed address may be replaced at once; a confirmed one needs the token mailed to it
    if (!acc.email || acc.emailConfirmedAt === null) return { tokenRequired: false }
    const token = await this.ctx.accounts.createEmailToken(did, 'update_email')
    await this.ctx.mailer.sendToken(acc.email, 'update_email', token, 'change your email address')
    return { tokenRequired: true }
  }

  async updateEmailConfirm({ did, email, token }: UpdateEmailConfirmInput): Promise<Account | null> {
    return mapped(async () => {
      const acc = await this.hosted(did)
      const next = checkEmail(email)
      if (acc.email && acc.emailConfirmedAt !== null) {
        if (!token) throw new InvalidRequestError('The code mailed to your current address is required')
        await this.ctx.accounts.consumeEmailToken('update_email', token, did)
      }
      const owner = await this.ctx.accounts.getAccountByEmail(next)
      if (owner && owner.did !== did) throw new InvalidRequestError('This email address is already in use')
      await this.ctx.accounts.updateEmail(did, next)
      return this.account(await this.hosted(did))
    })
  }

  async verifyEmailRequest({ did }: VerifyEmailRequestInput): Promise<void> {
    const acc = await this.hosted(did)
    if (!acc.email) throw new InvalidRequestError('This account has no email address')
    const token = await this.ctx.accounts.createEmailToken(did, 'confirm_email')
    await this.ctx.mailer.sendToken(acc.email, 'confirm_email', token, 'confirm your email')
  }

  async verifyEmailConfirm({ did, token }: VerifyEmailConfirmInput): Promise<Account | null> {
    return mapped(async () => {
      await this.ctx.accounts.consumeEmailToken('confirm_email', token, did)
      await this.ctx.accounts.confirmEmail(did)
      return this.account(await this.hosted(did))
    })
  }

  async verifyHandleAvailability(handle: HandleString): Promise<void> {
    await mapped(async () => {
      const checked = checkServiceHandle(handle, this.ctx.cfg.identity.serviceHandleDomains)
      if (await this.ctx.accounts.isHandleTaken(checked)) throw new HandleUnavailableError('taken', `${checked} is taken`)
    })
  }

  async updateHandle({ did, handle }: UpdateHandleData): Promise<Account> {
    await mapped(() => changeHandle(this.ctx, did, handle))
    return this.account(await this.hosted(did))
  }

  async deactivateAccount({ did, deleteAfter }: DeactivateAccountData): Promise<Account> {
    const acc = await this.hosted(did)
    if (acc.deactivatedAt === null) {
      await this.ctx.accounts.setDeactivated(did, true, deleteAfter)
      this.ctx.announce(accountEvent(did, false, 'deactivated'))
    }
    return this.account(await this.hosted(did))
  }

  async reactivateAccount({ did }: ReactivateAccountData): Promise<Account> {
    const acc = await this.hosted(did)
    if (acc.deactivatedAt !== null) {
      await this.ctx.accounts.setDeactivated(did, false)
      this.ctx.announceActivation(did)
    }
    return this.account(await this.hosted(did))
  }

  async deleteAccountRequest({ did }: DeleteAccountRequestInput): Promise<void> {
    const acc = await this.hosted(did)
    if (!acc.email) throw new InvalidRequestError('This account has no email address to send the confirmation code to')
    const token = await this.ctx.accounts.createEmailToken(did, 'delete_account')
    await this.ctx.mailer.sendToken(acc.email, 'delete_account', token, 'delete your account')
  }

  async deleteAccountConfirm({ did, token, password }: DeleteAccountConfirmInput): Promise<void> {
    await mapped(async () => {
      const acc = await this.hosted(did)
      const login = await this.ctx.accounts.verifyLogin(acc, password)
      if (!login || login.appPassword) throw new InvalidRequestError('Wrong password')
      await this.ctx.accounts.consumeEmailToken('delete_account', token, did)
      await purgeAccount(this.ctx, did, 'owner')
    })
  }

  // --- devices (browsers with a session cookie) -------------------------

  async createDevice(deviceId: DeviceId, data: DeviceData): Promise<void> {
    await this.q
      .insertInto('oauth_device')
      .values({ id: deviceId, sessionId: data.sessionId, userAgent: data.userAgent, ipAddress: data.ipAddress, lastSeenAt: iso(data.lastSeenAt) })
      .execute()
  }

  async readDevice(deviceId: DeviceId): Promise<DeviceData | null> {
    const row = await this.q.selectFrom('oauth_device').selectAll().where('id', '=', deviceId).executeTakeFirst()
    return row ? rowToDevice(row) : null
  }

  async updateDevice(deviceId: DeviceId, data: Partial<DeviceData>): Promise<void> {
    const set = {
      ...(data.sessionId !== undefined && { sessionId: data.sessionId }),
      ...(data.userAgent !== undefined && { userAgent: data.userAgent }),
      ...(data.ipAddress !== undefined && { ipAddress: data.ipAddress }),
      ...(data.lastSeenAt !== undefined && { lastSeenAt: iso(data.lastSeenAt) }),
    }
    if (Object.keys(set).length === 0) return
    await this.q.updateTable('oauth_device').set(set).where('id', '=', deviceId).execute()
  }

  async deleteDevice(deviceId: DeviceId): Promise<void> {
    // cascades to the accounts it remembered
    await this.q.deleteFrom('oauth_device').where('id', '=', deviceId).execute()
  }

  // --- authorization requests (PAR → sign-in → code) --------------------

  async createRequest(id: RequestId, data: RequestData): Promise<void> {
    // the moment to forget requests nobody finished
    await this.q.deleteFrom('oauth_request').where('expiresAt', '<', iso(new Date(Date.now() - 60 * 60e3))).execute()
    await this.q
      .insertInto('oauth_request')
      .values({
        id,
        clientId: data.clientId,
        clientAuth: data.clientAuth ? json(data.clientAuth) : null,
        parameters: json(data.parameters),
        expiresAt: iso(data.expiresAt),
        deviceId: data.deviceId,
        did: data.did,
        code: data.code,
      })
      .execute()
  }

  async readRequest(id: RequestId): Promise<RequestData | null> {
    const row = await this.q.selectFrom('oauth_request').selectAll().where('id', '=', id).executeTakeFirst()
    return row ? rowToRequest(row) : null
  }

  async updateRequest(id: RequestId, data: UpdateRequestData): Promise<void> {
    const set = {
      ...(data.did !== undefined && { did: data.did }),
      ...(data.code !== undefined && { code: data.code }),
      ...(data.deviceId !== undefined && { deviceId: data.deviceId }),
      ...(data.expiresAt !== undefined && { expiresAt: iso(data.expiresAt) }),
      ...(data.parameters !== undefined && { parameters: json(data.parameters) }),
    }
    if (Object.keys(set).length === 0) return
    await this.q.updateTable('oauth_request').set(set).where('id', '=', id).execute()
  }

  async deleteRequest(id: RequestId): Promise<void> {
    await this.q.deleteFrom('oauth_request').where('id', '=', id).execute()
  }

  /** Read and delete in one statement: two token requests with one code cannot both get it. */
  async consumeRequestCode(code: Code): Promise<FoundRequestResult | null> {
    const row = await this.q.deleteFrom('oauth_request').where('code', '=', code).returningAll().executeTakeFirst()
    return row ? { requestId: row.id as RequestId, data: rowToRequest(row) } : null
  }

  // --- tokens -----------------------------------------------------------

  async createToken(tokenId: TokenId, data: CreateTokenData, refreshToken?: RefreshToken): Promise<void> {
    await this.q
      .insertInto('oauth_token')
      .values({
        tokenId,
        did: data.did,
        clientId: data.clientId,
        clientAuth: json(data.clientAuth),
        deviceId: data.deviceId,
        parameters: json(data.parameters),
        code: data.code,
        currentRefreshToken: refreshToken ?? null,
        scope: data.scope,
        createdAt: iso(data.createdAt),
        updatedAt: iso(data.updatedAt),
        expiresAt: iso(data.expiresAt),
      })
      .execute()
  }

  private tokens() {
    return this.q.selectFrom('oauth_token').selectAll()
  }

  private async toTokenInfo(row: TokenRow | undefined): Promise<TokenInfo | null> {
    if (!row) return null
    const acc = await this.ctx.accounts.getAccount(row.did)
    if (!acc) return null
    return {
      id: row.tokenId as TokenId,
      data: rowToToken(row),
      account: await this.account(acc),
      currentRefreshToken: row.currentRefreshToken as RefreshToken | null,
    }
  }

  async readToken(tokenId: TokenId): Promise<TokenInfo | null> {
    return this.toTokenInfo(await this.tokens().where('tokenId', '=', tokenId).executeTakeFirst())
  }

  async deleteToken(tokenId: TokenId): Promise<void> {
    // cascades to the refresh tokens it used before
    await this.q.deleteFrom('oauth_token').where('tokenId', '=', tokenId).execute()
  }

  async rotateToken(tokenId: TokenId, newTokenId: TokenId, newRefreshToken: RefreshToken, newData: NewTokenData): Promise<void> {
    await this.q.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('oauth_token').select(['id', 'currentRefreshToken']).where('tokenId', '=', tokenId).executeTakeFirst()
      if (!row) throw new InvalidRequestError('The session was revoked')
      if (row.currentRefreshToken) {
        await tx.insertInto('oauth_used_refresh_token').values({ refreshToken: row.currentRefreshToken, tokenRowId: row.id }).execute()
      }
      const reused = await tx.selectFrom('oauth_used_refresh_token').select('refreshToken').where('refreshToken', '=', newRefreshToken).executeTakeFirst()
      if (reused) throw new Error('new refresh token already used')
      await tx
        .updateTable('oauth_token')
        .set({
          tokenId: newTokenId,
          currentRefreshToken: newRefreshToken,
          expiresAt: iso(newData.expiresAt),
          updatedAt: iso(newData.updatedAt),
          clientAuth: json(newData.clientAuth),
          scope: newData.scope,
        })
        .where('id', '=', row.id)
        .execute()
    })
  }

  /** The token a refresh token belongs to, now or before it rotated (the provider revokes on reuse). */
  async findTokenByRefreshToken(refreshToken: RefreshToken): Promise<TokenInfo | null> {
    const used = await this.q.selectFrom('oauth_used_refresh_token').select('tokenRowId').where('refreshToken', '=', refreshToken).executeTakeFirst()
    const row = used
      ? await this.tokens().where('id', '=', used.tokenRowId).executeTakeFirst()
      : await this.tokens().where('currentRefreshToken', '=', refreshToken).executeTakeFirst()
    return this.toTokenInfo(row)
  }

  async findTokenByCode(code: Code): Promise<TokenInfo | null> {
    return this.toTokenInfo(await this.tokens().where('code', '=', code).executeTakeFirst())
  }

  async listAccountTokens(did: Did): Promise<TokenInfo[]> {
    const rows = await this.tokens().where('did', '=', did).orderBy('updatedAt', 'desc').execute()
    const out: TokenInfo[] = []
    for (const row of rows) {
      const info = await this.toTokenInfo(row)
      if (info) out.push(info)
    }
    return out
  }

  // --- permission-set lexicons -----------------------------------------

  async findLexicon(nsid: string): Promise<LexiconData | null> {
    const row = await this.q.selectFrom('oauth_lexicon').select('data').where('nsid', '=', nsid).executeTakeFirst()
    if (!row) return null
    const d = parse<{ createdAt: string; updatedAt: string; lastSucceededAt: string | null; uri: string | null; lexicon: LexiconData['lexicon'] }>(row.data)
    return {
      createdAt: new Date(d.createdAt),
      updatedAt: new Date(d.updatedAt),
      lastSucceededAt: d.lastSucceededAt ? new Date(d.lastSucceededAt) : null,
      uri: d.uri,
      lexicon: d.lexicon,
    }
  }

  async storeLexicon(nsid: string, data: LexiconData): Promise<void> {
    const value = json(data)
    await this.q
      .insertInto('oauth_lexicon')
      .values({ nsid, data: value })
      .onConflict((oc) => oc.column('nsid').doUpdateSet({ data: value }))
      .execute()
  }

  async deleteLexicon(nsid: string): Promise<void> {
    await this.q.deleteFrom('oauth_lexicon').where('nsid', '=', nsid).execute()
  }
}

type TokenRow = Selectable<OAuthTokenTable>

const rowToToken = (row: TokenRow): TokenData => ({
  createdAt: new Date(row.createdAt),
  updatedAt: new Date(row.updatedAt),
  expiresAt: new Date(row.expiresAt),
  clientId: row.clientId as ClientId,
  clientAuth: parse(row.clientAuth),
  deviceId: row.deviceId as DeviceId | null,
  did: row.did as Did,
  parameters: parse(row.parameters),
  code: row.code as Code | null,
  scope: row.scope,
})

const rowToDevice = (row: Omit<OAuthDeviceTable, 'id'>): DeviceData => ({
  sessionId: row.sessionId as DeviceData['sessionId'],
  userAgent: row.userAgent,
  ipAddress: row.ipAddress,
  lastSeenAt: new Date(row.lastSeenAt),
})

const rowToRequest = (row: OAuthRequestTable): RequestData => ({
  clientId: row.clientId as ClientId,
  clientAuth: row.clientAuth ? parse(row.clientAuth) : null,
  parameters: parse(row.parameters),
  expiresAt: new Date(row.expiresAt),
  deviceId: row.deviceId as DeviceId | null,
  did: row.did as Did | null,
  code: row.code as Code | null,
})
