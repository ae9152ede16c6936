import cliProgress from 'cli-progress'

/** A progress bar on stderr when it is a terminal; silent otherwise (scripts read stdout). */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null

  constructor(label: string, total: number, opts: { bytes?: boolean; quiet?: boolean } = {}) {
    const show = !opts.quiet && process.stderr.isTTY === true
    this.bar = show
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: opts.bytes
              ? `${label} [{bar}] {mib} MiB{ofTotal} | {duration_formatted}`
              : `${label} [{bar}] {value}/{total} | {eta_formatted} left`,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null
    this.bar?.start(Math.max(total, 1), 0, this.payload(0, total, opts.bytes))
    this.bytes = opts.bytes ?? false
    this.total = total
  }

  private readonly bytes: boolean
  private readonly total: number

  private payload(value: number, total: number, bytes?: boolean) {
    if (!bytes) return {}
    return { mib: (value / 1048576).toFixed(1), ofTotal: total > 0 ? ` of ${(total / 1048576).toFixed(1)}` : '' }
  }

  update(value: number): void {
    this.bar?.update(this.total > 0 ? Math.min(value, this.total) : 0, this.payload(value, this.total, this.bytes))
  }

  stop(): void {
    this.bar?.stop()
  }
}
