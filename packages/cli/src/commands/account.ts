import { AtpAgent } from '@atproto/api'
import { CliError, ExitCode, describeError } from '../errors.ts'
import { loginAndStore, storedAgent, pinnedAgent } from '../session.ts'

/** `atp account create`: a new account (and its did:plc), logged in afterwards. */
export const createAccount = async (opts: {
  pds: string
  handle: string
  email: string
  password: string
  invite?: string
}): Promise<{ did: string; handle: string }> => {
  const agent = pinnedAgent(opts.pds)
  try {
    await agent.com.atproto.server.createAccount({ handle: opts.handle, email: opts.email, password: opts.password, inviteCode: opts.invite })
  } catch (err) {
    const e = describeError(err, `createAccount at ${opts.pds}`)
    if (/InvalidInviteCode/.test(e.message)) throw new CliError(e.message, { hint: 'this server requires an invite: ask its operator (atp invite create)' })
    if (/HandleNotAvailable/.test(e.message)) throw new CliError(e.message, { hint: 'choose another handle' })
    throw e
  }
  const logged = await loginAndStore(opts.pds, opts.handle, opts.password)
  return { did: logged.session!.did, handle: logged.session!.handle }
}

export const login = async (opts: { pds: string; identifier: string; password: string }) => {
  const agent = await loginAndStore(opts.pds, opts.identifier, opts.password)
  return { did: agent.session!.did, handle: agent.session!.handle, pds: opts.pds }
}

/** `atp account status`: the session and checkAccountStatus of the logged-in account. */
export const status = async () => {
  const agent = await storedAgent()
  try {
    const [session, account] = await Promise.all([agent.com.atproto.server.getSession(), agent.com.atproto.server.checkAccountStatus()])
    return { pds: agent.serviceUrl.toString(), did: session.data.did, handle: session.data.handle, email: session.data.email, ...account.data }
  } catch (err) {
    throw describeError(err, 'account status')
  }
}

/** `atp handle set <handle>`: updateHandle (the PDS updates the DID document and announces it). */
export const setHandle = async (handle: string): Promise<{ did: string; handle: string }> => {
  const agent = await storedAgent()
  try {
    await agent.com.atproto.identity.updateHandle({ handle })
  } catch (err) {
    throw describeError(err, `updateHandle to ${handle}`)
  }
  return { did: agent.session!.did, handle }
}

/** `atp invite create`: an invite code, with the PDS's admin password. */
export const createInvite = async (opts: { pds: string; adminPassword?: string; uses: number }): Promise<string> => {
  if (!opts.adminPassword) {
    throw new CliError('the admin password is needed', { hint: 'give --admin-password or set ATP_ADMIN_PASSWORD', exitCode: ExitCode.usage })
  }
  const agent = new AtpAgent({ service: opts.pds })
  try {
    const res = await agent.com.atproto.server.createInviteCode(
      { useCount: opts.uses },
      { headers: { authorization: `Basic ${Buffer.from(`admin:${opts.adminPassword}`).toString('base64')}` } },
    )
    return res.data.code
  } catch (err) {
    throw describeError(err, `createInviteCode at ${opts.pds}`)
  }
}
