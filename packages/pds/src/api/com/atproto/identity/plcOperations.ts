import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { identityEvent } from '../../../../sequencer/events.ts'
import { byAccount } from '../../../../rate-limits.ts'

/** What the DID document should say for this account to live here (for a migration's PLC operation). */
export const getRecommendedDidCredentials: Route = (server, ctx) => {
  server.add(com.atproto.identity.getRecommendedDidCredentials, {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      const signingKey = await ctx.actorStore.keypair(did)
      return json({
        // did:web documents are the user's own: rotation keys mean nothing there
        rotationKeys: did.startsWith('did:plc:') ? [ctx.plc.rotationKeyDid] : undefined,
        alsoKnownAs: acc?.handle ? [`at://${acc.handle}`] : [],
        verificationMethods: { atproto: signingKey.did() },
        services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: ctx.cfg.service.publicUrl } },
      })
    },
  })
}

/** Mails the account a token that signPlcOperation requires. */
export const requestPlcOperationSignature: Route = (server, ctx) => {
  server.add(com.atproto.identity.requestPlcOperationSignature, {
    rateLimit: ctx.rateLimits.route(['request-email-token', byAccount]),
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertIdentity({ attr: '*' }) }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      if (!did.startsWith('did:plc:')) throw new InvalidRequest(`${did} is not a did:plc: its document is not ours to sign`)
      const acc = await ctx.accounts.getAccount(did)
      if (!acc?.email) throw new InvalidRequest('the account has no email address to send the token to')
      const token = await ctx.accounts.createEmailToken(did, 'plc_operation')
      await ctx.mailer.sendToken(acc.email, 'plc_operation', token, 'sign a change of your DID document (PLC operation)')
    },
  })
}

const stringArray = (value: unknown, name: string): string[] | undefined => {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new InvalidRequest(`${name} must be an array of strings`)
  return value
}

const stringRecord = <T>(value: unknown, name: string, check: (v: unknown) => v is T): Record<string, T> | undefined => {
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every(check)) {
    throw new InvalidRequest(`${name} is malformed`)
  }
  return value as Record<string, T>
}

const isService = (v: unknown): v is { type: string; endpoint: string } =>
  typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string' && typeof (v as { endpoint?: unknown }).endpoint === 'string'

/** Signs (with this server's rotation key) an update of the account's PLC document; nothing is sent. */
export const signPlcOperation: Route = (server, ctx) => {
  server.add(com.atproto.identity.signPlcOperation, {
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertIdentity({ attr: '*' }) }),
    handler: async ({ auth, input: { body } }) => {
      const { did } = auth.credentials
      if (!body.token) throw new InvalidRequest('a token from requestPlcOperationSignature is required (check your email)')
      const fields = {
        rotationKeys: stringArray(body.rotationKeys, 'rotationKeys'),
        alsoKnownAs: stringArray(body.alsoKnownAs, 'alsoKnownAs'),
        verificationMethods: stringRecord(body.verificationMethods, 'verificationMethods', (v): v is string => typeof v === 'string'),
        services: stringRecord(body.services, 'services', isService),
      }
      await ctx.accounts.consumeEmailToken('plc_operation', body.token, did)
      const operation = await ctx.plc.signUpdate(did, fields)
      return json({ operation })
    },
  })
}

/**
 * Sends a signed PLC operation for the account (e.g. the old host's, moving
 * it here) after checking that the document it makes keeps the account
 * working here: our rotation key, our endpoint, our signing key, its handle.
 */
export const submitPlcOperation: Route = (server, ctx) => {
  server.add(com.atproto.identity.submitPlcOperation, {
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertIdentity({ attr: '*' }) }),
    handler: async ({ auth, input: { body } }) => {
      const { did } = auth.credentials
      if (!did.startsWith('did:plc:')) throw new InvalidRequest(`${did} is not a did:plc`)
      const op = body.operation as Record<string, unknown> | null
      if (!op || typeof op !== 'object' || op.type !== 'plc_operation') throw new InvalidRequest('operation must be a signed plc_operation')
      const rotationKeys = stringArray(op.rotationKeys, 'operation.rotationKeys') ?? []
      if (!rotationKeys.includes(ctx.plc.rotationKeyDid)) {
        throw new InvalidRequest("the operation's rotation keys do not include this server's rotation key (see getRecommendedDidCredentials)")
      }
      const services = stringRecord(op.services, 'operation.services', isService) ?? {}
      const pds = services.atproto_pds
      if (pds?.type !== 'AtprotoPersonalDataServer') throw new InvalidRequest('the operation has no atproto_pds service')
      if (pds.endpoint !== ctx.cfg.service.publicUrl) {
        throw new InvalidRequest(`the operation's atproto_pds endpoint is ${pds.endpoint}, not this server (${ctx.cfg.service.publicUrl})`)
      }
      const methods = stringRecord(op.verificationMethods, 'operation.verificationMethods', (v): v is string => typeof v === 'string') ?? {}
      const signingKey = (await ctx.actorStore.keypair(did)).did()
      if (methods.atproto !== signingKey) {
        throw new InvalidRequest(`the operation's atproto signing key is ${methods.atproto}, not this account's key here (${signingKey})`)
      }
      const acc = await ctx.accounts.getAccount(did)
      const aka = stringArray(op.alsoKnownAs, 'operation.alsoKnownAs') ?? []
      if (acc?.handle && aka[0] !== `at://${acc.handle}`) {
        throw new InvalidRequest(`the operation's first alsoKnownAs is ${aka[0] ?? 'missing'}, not at://${acc.handle}`)
      }
      await ctx.plc.send(did, op)
      ctx.announce(identityEvent(did, acc?.handle ?? undefined))
    },
  })
}
