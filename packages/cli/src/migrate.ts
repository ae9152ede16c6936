import { Readable } from 'node:stream'
import type { AtpAgent } from '@atproto/api'
import { verifyRepoCar } from '@atproto/repo'
import { CliError, ExitCode, describeError } from './errors.ts'
import type { Resolver } from './identity.ts'
import { Progress } from './progress.ts'
import { login, pinnedAgent } from './session.ts'
import { countBytes, fetchRepo, postImport, trimSlash } from './transfer.ts'
import { STEPS, type Step } from './defaults.ts'

export type MigrateOptions = {
  /** the old host's URL */
  from: string
  /** the new host's URL */
  to: string
  /** the account's handle or DID */
  identifier: string
  password: string
  /** the handle on the new host */
  handle: string
  /** defaults: the old account's email and password */
  email?: string
  newPassword?: string
  inviteCode?: string
  /** the token requestPlcOperationSignature mailed (second run) */
  plcToken?: string
  resolver: Resolver
  quiet?: boolean
  /** one line per step, for the user (stderr) */
  log: (line: string) => void
}

export { STEPS, type Step }

export type MigrationReport = {
  did: string
  handle: string
  from: string
  to: string
  ok: boolean
  problems: string[]
  records: { old: number; new: number; verified: number }
  blobs: { expected: number; imported: number; missingAtOld: string[] }
  preferences: { old: number; new: number }
  didDocument: { pds: string; signingKey: string; pointsToNewHost: boolean }
  newAccount: { activated: boolean; repoRev: string; repoCommit: string }
  oldAccount: { activated: boolean }
  /** milliseconds each step took in this run */
  timings: Partial<Record<Step, number>>
}

/**
 * `atp account migrate`: the account-migration flow (atproto.com, "Account
 * Migration"), every step idempotent and decided by what the servers say
 * now, not by a local state file: run again after an interruption at any
 * point, it skips what is done and completes the rest.
 *
 * login → create-account (service token from the old host) → import-repo
 * (streamed old getRepo → new importRepo) → blobs (listMissingBlobs, old
 * getBlob → new uploadBlob) → preferences → plc (recommended credentials,
 * emailed token, signed by the old host, submitted by the new) → activate
 * (new) → deactivate-old → verify (a report).
 */
export class Migration {
  private readonly opts: MigrateOptions
  private readonly from: string
  private readonly to: string
  private old!: AtpAgent
  private fresh!: AtpAgent
  private did = ''
  private email = ''
  private missingAtOld: string[] = []
  private readonly timings: Partial<Record<Step, number>> = {}

  constructor(opts: MigrateOptions) {
    this.opts = opts
    this.from = trimSlash(opts.from)
    this.to = trimSlash(opts.to)
    if (this.from === this.to) throw new CliError('--from and --to are the same host', { exitCode: ExitCode.usage })
  }

  async run(): Promise<MigrationReport> {
    await this.step('login', () => this.login())
    await this.step('create-account', () => this.createAccount())
    let status = await this.newStatus()
    const live = status.activated
    await this.step('import-repo', () => (live ? 'already live on the new host' : this.importRepo(status.repoCommit)))
    await this.step('blobs', () => (live ? 'already live on the new host' : this.blobs()))
    await this.step('preferences', () => (live ? 'already live on the new host' : this.preferences()))
    status = await this.newStatus()
    await this.step('plc', () => (status.validDid ? 'the DID document already names the new host' : this.plc()))
    await this.step('activate', async () => {
      if ((await this.newStatus()).activated) return 'already active'
      await this.call('activateAccount (new host)', () => this.fresh.com.atproto.server.activateAccount())
    })
    await this.step('deactivate-old', () => this.deactivateOld())
    let report!: MigrationReport
    await this.step('verify', async () => {
      report = await this.verify()
      return report.ok ? 'everything checks out' : `${report.problems.length} problem(s)`
    })
    return report
  }

  /** Runs a step, logs it; ATP_FAULT_KILL_AFTER=<step> kills the process right after it (interruption tests). */
  private async step(name: Step, fn: () => Promise<string | void> | string | void): Promise<void> {
    const started = performance.now()
    const note = await fn()
    const ms = performance.now() - started
    this.timings[name] = Math.round(ms)
    this.opts.log(`✓ ${name}${note ? ` (${note})` : ''} ${ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`}`)
    if (process.env.ATP_FAULT_KILL_AFTER === name) process.kill(process.pid, 'SIGKILL')
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw describeError(err, what)
    }
  }

  private async login(): Promise<string> {
    this.old = await login(this.from, this.opts.identifier, this.opts.password)
    this.did = this.old.session!.did
    const session = await this.call('getSession (old host)', () => this.old.com.atproto.server.getSession())
    this.email = this.opts.email ?? session.data.email ?? ''
    return this.did
  }

  private async createAccount(): Promise<string> {
    const password = this.opts.newPassword ?? this.opts.password
    try {
      this.fresh = await login(this.to, this.did, password)
      return 'the account already exists on the new host'
    } catch (err) {
      // AuthenticationRequired / InvalidRequest here: no such account yet (anything else is real)
      if (err instanceof CliError && err.exitCode === ExitCode.unreachable) throw err
    }
    if (!this.email) throw new CliError('the old host did not tell the account email', { hint: 'give it with --email', exitCode: ExitCode.usage })
    const desc = await this.call('describeServer (new host)', () => pinnedAgent(this.to).com.atproto.server.describeServer())
    const token = await this.call('getServiceAuth (old host)', () =>
      this.old.com.atproto.server.getServiceAuth({ aud: desc.data.did, lxm: 'com.atproto.server.createAccount' }),
    )
    const agent = pinnedAgent(this.to)
    await this.call('createAccount (new host)', () =>
      agent.com.atproto.server.createAccount(
        { did: this.did, handle: this.opts.handle, email: this.email, password, inviteCode: this.opts.inviteCode },
        { headers: { authorization: `Bearer ${token.data.token}` } },
      ),
    )
    this.fresh = await login(this.to, this.did, password)
    return `created ${this.opts.handle}, deactivated until the move completes`
  }

  private async newStatus() {
    return (await this.call('checkAccountStatus (new host)', () => this.fresh.com.atproto.server.checkAccountStatus())).data
  }

  private async importRepo(currentCommit: string): Promise<string> {
    const head = await this.call('getLatestCommit (old host)', () => this.old.com.atproto.sync.getLatestCommit({ did: this.did }))
    if (head.data.cid === currentCommit) return `already at ${head.data.rev}`
    const res = await fetchRepo(this.from, this.did, 'getRepo (old host)')
    const progress = new Progress('repo  ', Number(res.headers.get('content-length') ?? 0), { bytes: true, quiet: this.opts.quiet })
    const counted = countBytes(Readable.fromWeb(res.body as never), progress)
    try {
      await postImport(this.to, this.fresh.session!.accessJwt, counted.stream, 'importRepo (new host)')
    } finally {
      progress.stop()
    }
    return `${(counted.bytes() / 1048576).toFixed(1)} MiB at rev ${head.data.rev}`
  }

  private async blobs(): Promise<string> {
    const status = await this.newStatus()
    const progress = new Progress('blobs ', Math.max(0, status.expectedBlobs - status.importedBlobs), { quiet: this.opts.quiet })
    let done = 0
    let cursor: string | undefined
    this.missingAtOld = []
    for (;;) {
      const page = await this.call('listMissingBlobs (new host)', () =>
        this.fresh.com.atproto.repo.listMissingBlobs({ limit: 500, cursor }),
      )
      for (const b of page.data.blobs) {
        let blob
        try {
          blob = await this.old.com.atproto.sync.getBlob({ did: this.did, cid: b.cid })
        } catch (err) {
          if ((err as { status?: number }).status === 404 || (err as { status?: number }).status === 400) {
            this.missingAtOld.push(b.cid)
            continue
          }
          throw describeError(err, `getBlob ${b.cid} (old host)`)
        }
        await this.call(`uploadBlob ${b.cid} (new host)`, () =>
          this.fresh.com.atproto.repo.uploadBlob(blob.data, { encoding: blob.headers['content-type'] ?? 'application/octet-stream' }),
        )
        progress.update(++done)
      }
      cursor = page.data.cursor
      if (!cursor || page.data.blobs.length === 0) break
    }
    progress.stop()
    const missing = this.missingAtOld.length > 0 ? `, ${this.missingAtOld.length} missing on the old host too` : ''
    return `${done} copied${missing}`
  }

  private async preferences(): Promise<string> {
    const prefs = await this.call('getPreferences (old host)', () => this.old.app.bsky.actor.getPreferences())
    await this.call('putPreferences (new host)', () => this.fresh.app.bsky.actor.putPreferences({ preferences: prefs.data.preferences }))
    return `${prefs.data.preferences.length} copied`
  }

  private async plc(): Promise<string> {
    const creds = await this.call('getRecommendedDidCredentials (new host)', () =>
      this.fresh.com.atproto.identity.getRecommendedDidCredentials(),
    )
    if (!this.did.startsWith('did:plc:')) {
      throw new CliError(`${this.did} is a did:web: its document is yours to update`, {
        hint: `publish at https://${this.did.slice(8).replace(/%3A/gi, ':')}/.well-known/did.json: ${JSON.stringify(creds.data)}, then run this again`,
        exitCode: ExitCode.actionNeeded,
      })
    }
    if (!this.opts.plcToken) {
      await this.call('requestPlcOperationSignature (old host)', () => this.old.com.atproto.identity.requestPlcOperationSignature())
      throw new CliError(`the old host emailed a confirmation token to ${this.email || 'the account email'}`, {
        hint: 'run the same command again with --plc-token <token>: the steps done so far are kept',
        exitCode: ExitCode.actionNeeded,
      })
    }
    const signed = await this.call('signPlcOperation (old host)', () =>
      this.old.com.atproto.identity.signPlcOperation({ token: this.opts.plcToken!, ...creds.data }),
    )
    await this.call('submitPlcOperation (new host)', () =>
      this.fresh.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation }),
    )
    return 'the DID document now names the new host'
  }

  private async deactivateOld(): Promise<string> {
    const session = await this.call('getSession (old host)', () => this.old.com.atproto.server.getSession())
    if (session.data.active === false) return 'already deactivated'
    await this.call('deactivateAccount (old host)', () => this.old.com.atproto.server.deactivateAccount({}))
    return 'the old host refuses writes now'
  }

  private async verify(): Promise<MigrationReport> {
    const problems: string[] = []
    const fresh = await this.newStatus()
    const old = (await this.call('checkAccountStatus (old host)', () => this.old.com.atproto.server.checkAccountStatus())).data
    const id = await this.opts.resolver.identity(this.did)
    const pointsToNewHost = trimSlash(id.pds) === this.to
    if (!pointsToNewHost) problems.push(`the DID document names ${id.pds}, not ${this.to}`)
    const res = await fetchRepo(this.to, this.did, 'getRepo (new host)')
    let verified = 0
    try {
      const repo = await verifyRepoCar(new Uint8Array(await res.arrayBuffer()), this.did, id.signingKey)
      verified = repo.creates.length
    } catch (err) {
      problems.push(`the new host's repo does not verify against the DID document: ${(err as Error).message}`)
    }
    if (fresh.indexedRecords !== old.indexedRecords) problems.push(`records: ${old.indexedRecords} on the old host, ${fresh.indexedRecords} on the new`)
    if (verified !== fresh.indexedRecords) problems.push(`the verified repo has ${verified} records, the new host counts ${fresh.indexedRecords}`)
    if (fresh.importedBlobs < fresh.expectedBlobs) problems.push(`blobs: ${fresh.expectedBlobs - fresh.importedBlobs} of ${fresh.expectedBlobs} missing on the new host`)
    if (!fresh.activated) problems.push('the new account is not active')
    if (old.activated) problems.push('the old account is still active')
    return {
      did: this.did,
      handle: id.handle ?? this.opts.handle,
      from: this.from,
      to: this.to,
      ok: problems.length === 0,
      problems,
      records: { old: old.indexedRecords, new: fresh.indexedRecords, verified },
      blobs: { expected: fresh.expectedBlobs, imported: fresh.importedBlobs, missingAtOld: this.missingAtOld },
      preferences: { old: old.privateStateValues, new: fresh.privateStateValues },
      didDocument: { pds: id.pds, signingKey: id.signingKey, pointsToNewHost },
      newAccount: { activated: fresh.activated, repoRev: fresh.repoRev, repoCommit: fresh.repoCommit },
      oldAccount: { activated: old.activated },
      timings: this.timings,
    }
  }
}
