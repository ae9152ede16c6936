import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { AtpAgent, CredentialSession, type AtpSessionData } from '@atproto/api'
import { CliError, describeError } from './errors.ts'

/** Where `atp account login` keeps its session: `$ATP_CONFIG_DIR` or `~/.config/atp`. */
export const configDir = (): string => process.env.ATP_CONFIG_DIR ?? path.join(os.homedir(), '.config', 'atp')

type Stored = { service: string; session: AtpSessionData }

const sessionFile = (): string => path.join(configDir(), 'session.json')

const save = (stored: Stored): void => {
  fs.mkdirSync(configDir(), { recursive: true, mode: 0o700 })
  const tmp = `${sessionFile()}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(stored, null, 2), { mode: 0o600 })
  fs.renameSync(tmp, sessionFile())
}

/**
 * An agent pinned to `service`: AtpAgent otherwise follows the PDS a session's
 * DID document names, which during a migration is the other host.
 */
export const pinnedAgent = (service: string, onSession?: (s: AtpSessionData) => void): AtpAgent =>
  new AtpAgent(
    new PinnedSession(new URL(service), globalThis.fetch, (_evt, session) => {
      if (session && onSession) onSession(session)
    }),
  )

class PinnedSession extends CredentialSession {
  override get dispatchUrl(): URL {
    return this.serviceUrl
  }
}

/** Logs in with a password (or app password) at `service`. */
export const login = async (service: string, identifier: string, password: string): Promise<AtpAgent> => {
  const agent = pinnedAgent(service)
  try {
    await agent.login({ identifier, password })
  } catch (err) {
    throw describeError(err, `logging in as ${identifier} at ${service}`)
  }
  return agent
}

/** `atp account login`: logs in and keeps the session for later commands. */
export const loginAndStore = async (service: string, identifier: string, password: string): Promise<AtpAgent> => {
  const agent = await login(service, identifier, password)
  save({ service, session: agent.session! })
  return agent
}

/** The stored session's agent (refreshing its tokens as needed, saved back). */
export const storedAgent = async (): Promise<AtpAgent> => {
  let stored: Stored
  try {
    stored = JSON.parse(fs.readFileSync(sessionFile(), 'utf8')) as Stored
  } catch {
    throw new CliError('not logged in', { hint: 'run atp account login --pds <url> -u <handle> -p <password> first' })
  }
  const agent = pinnedAgent(stored.service, (session) => save({ service: stored.service, session }))
  try {
    await agent.resumeSession(stored.session)
  } catch (err) {
    throw describeError(err, 'resuming the stored session (log in again with atp account login)')
  }
  return agent
}
