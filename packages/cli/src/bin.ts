#!/usr/bin/env node
// atp: the suite's command line for users and operators. Results go to
// stdout (JSON with --json, or lines), progress and step notes to stderr;
// exit codes are in errors.ts and in `atp --help`.
import { once } from 'node:events'
import { Command, CommanderError, Option } from 'commander'
import { CliError, ExitCode } from './errors.ts'
import { DEFAULT_PLC, STEPS } from './defaults.ts'
import type { Resolver } from './identity.ts'

// Each command loads what it runs when it runs: `atp --help` and a bad
// command line answer without loading @atproto/api, repo or sync.
const accountCommands = () => import('./commands/account.ts')
const repoCommands = () => import('./commands/repo.ts')

// A reader that stops early (`atp repo ls … | head`) closes our stdout: the
// next write fails with EPIPE. That is the reader's choice, not a failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

const program = new Command('atp')
  .description('AT Protocol accounts, repos, migration between hosts and the firehose')
  .option('--plc <url>', 'PLC directory for did:plc documents (env ATP_PLC_URL)', process.env.ATP_PLC_URL ?? DEFAULT_PLC)
  .option('--json', 'print results as JSON', false)
  .option('-q, --quiet', 'no progress bars', false)
  .addHelpText(
    'after',
    `
Exit codes: 0 done · 1 failed (the message says why and what next) · 2 bad command line ·
3 waiting for you (e.g. the emailed PLC token: re-run with it) · 4 did not verify · 5 server unreachable.
Sessions from \`atp account login\` live in $ATP_CONFIG_DIR (default ~/.config/atp).`,
  )
  .exitOverride()

type Globals = { plc: string; json: boolean; quiet: boolean }
const globals = (): Globals => program.opts<Globals>()
const resolver = async (): Promise<Resolver> => new (await import('./identity.ts')).Resolver(globals().plc)
const say = (line: string): void => void process.stderr.write(`${line}\n`)
/** stdout: JSON with --json, else `text` */
const out = (value: unknown, text: string): void => {
  process.stdout.write(globals().json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`)
}
const envOr = (name: string): string | undefined => process.env[name]
/** One line to stdout, waiting when the pipe is full (record listings, firehose events). */
const writeLine = async (line: string): Promise<void> => {
  if (!process.stdout.write(`${line}\n`)) await once(process.stdout, 'drain')
}

// account

const account = program.command('account').description('create, log in to, inspect and move accounts')

account
  .command('create')
  .description('create an account (and its did:plc) on a PDS, and log in')
  .requiredOption('--pds <url>', 'the PDS')
  .requiredOption('--handle <handle>', 'e.g. alice.example.com (one of the PDS service domains)')
  .requiredOption('--email <email>')
  .option('-p, --password <password>', 'env ATP_PASSWORD', envOr('ATP_PASSWORD'))
  .option('--invite <code>', 'invite code, when the PDS requires one')
  .action(async (o) => {
    if (!o.password) throw new CliError('a password is needed', { hint: 'give -p or set ATP_PASSWORD', exitCode: ExitCode.usage })
    const { createAccount } = await accountCommands()
    const r = await createAccount({ pds: o.pds, handle: o.handle, email: o.email, password: o.password, invite: o.invite })
    out(r, `created ${r.handle} (${r.did}), logged in`)
  })

account
  .command('login')
  .description('log in and keep the session for later commands')
  .requiredOption('--pds <url>', 'the PDS')
  .requiredOption('-u, --user <handle|did>', 'handle or DID')
  .option('-p, --password <password>', 'password or app password (env ATP_PASSWORD)', envOr('ATP_PASSWORD'))
  .action(async (o) => {
    if (!o.password) throw new CliError('a password is needed', { hint: 'give -p or set ATP_PASSWORD', exitCode: ExitCode.usage })
    const { login } = await accountCommands()
    const r = await login({ pds: o.pds, identifier: o.user, password: o.password })
    out(r, `logged in as ${r.handle} (${r.did}) at ${r.pds}`)
  })

account
  .command('status')
  .description("the logged-in account's session and repo status")
  .action(async () => {
    const { status } = await accountCommands()
    const r = await status()
    out(r, Object.entries(r).map(([k, v]) => `${k.padEnd(20)} ${String(v)}`).join('\n'))
  })

account
  .command('migrate')
  .description('move an account (repo, blobs, preferences, identity) to another PDS; run again to resume')
  .requiredOption('--from <url>', 'the old PDS')
  .requiredOption('--to <url>', 'the new PDS')
  .requiredOption('-u, --user <handle|did>', 'the account')
  .requiredOption('--handle <handle>', 'its handle on the new PDS')
  .option('-p, --password <password>', 'the password on the old PDS (env ATP_PASSWORD)', envOr('ATP_PASSWORD'))
  .option('--new-password <password>', 'the password on the new PDS (default: the same)', envOr('ATP_NEW_PASSWORD'))
  .option('--email <email>', "the email on the new PDS (default: the old account's)")
  .option('--invite <code>', 'invite code for the new PDS')
  .option('--plc-token <token>', 'the token the old PDS emailed (second run)')
  .addHelpText('after', `\nSteps: ${STEPS.join(' → ')}. Each is checked against the servers before it runs, so a re-run\nafter an interruption picks up where it stopped.`)
  .action(async (o) => {
    if (!o.password) throw new CliError('a password is needed', { hint: 'give -p or set ATP_PASSWORD', exitCode: ExitCode.usage })
    const { Migration } = await import('./migrate.ts')
    const migration = new Migration({
      from: o.from,
      to: o.to,
      identifier: o.user,
      password: o.password,
      newPassword: o.newPassword,
      handle: o.handle,
      email: o.email,
      inviteCode: o.invite,
      plcToken: o.plcToken,
      resolver: await resolver(),
      quiet: globals().quiet,
      log: say,
    })
    const r = await migration.run()
    out(
      r,
      [
        `${r.ok ? 'moved' : 'moved, with problems:'} ${r.did} (${r.handle}) from ${r.from} to ${r.to}`,
        ...r.problems.map((p) => `  ! ${p}`),
        `  records        ${r.records.new} (old host ${r.records.old}, verified ${r.records.verified})`,
        `  blobs          ${r.blobs.imported} of ${r.blobs.expected}${r.blobs.missingAtOld.length ? ` (${r.blobs.missingAtOld.length} missing on the old host)` : ''}`,
        `  preferences    ${r.preferences.new} (old host ${r.preferences.old})`,
        `  DID document   PDS ${r.didDocument.pds}, key ${r.didDocument.signingKey}`,
        `  new account    ${r.newAccount.activated ? 'active' : 'NOT active'} at rev ${r.newAccount.repoRev}`,
        `  old account    ${r.oldAccount.activated ? 'STILL active' : 'deactivated'}`,
      ].join('\n'),
    )
    if (!r.ok) process.exitCode = ExitCode.verifyFailed
  })

// invite, handle

program
  .command('invite')
  .description('invite codes (operators)')
  .command('create')
  .description('create an invite code with the admin password')
  .requiredOption('--pds <url>', 'the PDS')
  .option('--admin-password <password>', 'env ATP_ADMIN_PASSWORD', envOr('ATP_ADMIN_PASSWORD'))
  .addOption(new Option('--uses <n>', 'how many accounts it may create').default(1).argParser((v) => Number.parseInt(v, 10)))
  .action(async (o) => {
    const { createInvite } = await accountCommands()
    const code = await createInvite({ pds: o.pds, adminPassword: o.adminPassword, uses: o.uses })
    out({ code }, code)
  })

program
  .command('handle')
  .description('handles')
  .command('set <handle>')
  .description("change the logged-in account's handle")
  .action(async (handle: string) => {
    const { setHandle } = await accountCommands()
    const r = await setHandle(handle)
    out(r, `${r.did} is now ${r.handle}`)
  })

// repo

const repo = program.command('repo').description('export, import, verify and list repos')

repo
  .command('export <did|handle>')
  .description("download a repo (CAR) from its PDS")
  .option('-o, --out <file>', 'where to write it (default <did>.car)')
  .option('--pds <url>', "the PDS (default: the one the DID document names)")
  .action(async (id: string, o) => {
    const { exportRepo } = await repoCommands()
    const r = await exportRepo(id, { out: o.out, pds: o.pds, resolver: await resolver(), quiet: globals().quiet })
    out(r, `wrote ${r.file} (${r.bytes} bytes) for ${r.did}`)
  })

repo
  .command('import <file>')
  .description('import a repo CAR into the logged-in account')
  .action(async (file: string) => {
    const { importRepo } = await repoCommands()
    const r = await importRepo(file, { quiet: globals().quiet })
    out(r, `imported ${r.bytes} bytes into ${r.did}`)
  })

repo
  .command('verify <source>')
  .description('verify a repo (a CAR file, or a DID/handle fetched from its PDS): signature, MST, records')
  .option('--pds <url>', 'fetch from this PDS')
  .action(async (source: string, o) => {
    const { verifyRepo } = await repoCommands()
    const r = await verifyRepo(source, { pds: o.pds, resolver: await resolver() })
    out(
      r,
      [
        `${r.ok ? 'valid' : 'INVALID'}: ${r.did}${r.handle ? ` (${r.handle})` : ''} at rev ${r.rev}`,
        ...(r.problem ? [`  ! ${r.problem}`] : []),
        `  commit     ${r.commit}`,
        `  signed by  ${r.signingKey} (the DID document's key)`,
        `  records    ${r.records}`,
        ...Object.entries(r.collections).map(([c, n]) => `    ${c.padEnd(32)} ${n}`),
      ].join('\n'),
    )
    if (!r.ok) process.exitCode = ExitCode.verifyFailed
  })

repo
  .command('ls <source>')
  .description('list the records of a repo (a CAR file, or a DID/handle)')
  .option('--pds <url>', 'fetch from this PDS')
  .option('-c, --collection <nsid>', 'only this collection')
  .action(async (source: string, o) => {
    const { listRepo } = await repoCommands()
    await listRepo(source, { pds: o.pds, collection: o.collection, resolver: await resolver(), write: writeLine })
  })

// firehose

program
  .command('firehose')
  .description('the event stream')
  .command('tail <url>')
  .description("print a relay's or PDS's verified events as JSON lines")
  .option('--collection <nsid...>', 'only record operations of these collections')
  .option('--did <did...>', 'only events of these accounts')
  .addOption(new Option('--cursor <seq>', 'start after this seq (0: everything retained)').argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--limit <n>', 'stop after n events').argParser((v) => Number.parseInt(v, 10)))
  .action(async (url: string, o) => {
    const { tail } = await import('./commands/firehose.ts')
    await tail(url, {
      plcUrl: globals().plc,
      collections: o.collection ?? [],
      dids: o.did ?? [],
      cursor: o.cursor,
      limit: o.limit,
      write: writeLine,
    })
  })

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : ExitCode.usage
  } else if (err instanceof CliError) {
    say(`atp: ${err.message}`)
    if (err.hint) say(`     ${err.hint}`)
    process.exitCode = err.exitCode
  } else {
    say(`atp: ${(err as Error)?.stack ?? String(err)}`)
    process.exitCode = ExitCode.failed
  }
}
