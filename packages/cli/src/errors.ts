/**
 * Exit codes (documented in `atp --help`): what a script calling atp can act on.
 */
export const ExitCode = {
  ok: 0,
  /** the operation failed: the message says why and what to do next */
  failed: 1,
  /** the command line was wrong */
  usage: 2,
  /** the operation is waiting for something only the user can give (e.g. the emailed PLC token): re-run with it */
  actionNeeded: 3,
  /** a repo or account did not verify */
  verifyFailed: 4,
  /** a server could not be reached */
  unreachable: 5,
} as const

/** An error for the user: what went wrong, what to do next, and the exit code. */
export class CliError extends Error {
  readonly hint: string | undefined
  readonly exitCode: number

  constructor(message: string, opts: { hint?: string; exitCode?: number } = {}) {
    super(message)
    this.hint = opts.hint
    this.exitCode = opts.exitCode ?? ExitCode.failed
  }
}

/** An XRPC or network error as one line: `<method> at <host>: <Error> (<status>): <message>`. */
export const describeError = (err: unknown, what?: string): CliError => {
  if (err instanceof CliError) return err
  const e = err as { status?: number; error?: string; message?: string; cause?: { code?: string } }
  const prefix = what ? `${what}: ` : ''
  const code = e.cause?.code
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /fetch failed/.test(e.message ?? '')) {
    return new CliError(`${prefix}could not reach the server (${code ?? e.message})`, {
      hint: 'check the URL and that the server is running',
      exitCode: ExitCode.unreachable,
    })
  }
  if (typeof e.status === 'number' && e.status > 0) {
    const hint =
      e.status === 401 ? 'check the password, or log in again (atp account login)' : e.status === 429 ? 'the server is rate limiting: wait and retry' : undefined
    return new CliError(`${prefix}${e.error ?? 'Error'} (HTTP ${e.status}): ${e.message ?? ''}`.trim(), { hint })
  }
  return new CliError(`${prefix}${e.message ?? String(err)}`)
}
