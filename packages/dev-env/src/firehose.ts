import { IdResolver } from '@atproto/identity'
import { Firehose, MemoryRunner, type Event } from '@atproto/sync'

export type TestFirehoseOptions = {
  /** base URL of the service serving subscribeRepos (http(s):// or ws(s)://) */
  service: string
  /** the PLC directory that DID documents (and signing keys) are resolved at */
  plcUrl: string
  /** resume after this seq (0: the whole retained log); absent: live from now */
  cursor?: number
}

/**
 * A verifying subscribeRepos consumer for tests: `@atproto/sync`'s Firehose
 * (commit signatures and MST proofs checked against the DID documents),
 * events handled one at a time in stream order. It keeps every event and
 * error and knows the last seq it has processed, so a test waits for a seq
 * (or a condition) rather than sleeping. A dropped connection is retried by
 * itself, resuming after that seq.
 */
export class TestFirehose {
  readonly events: Event[] = []
  readonly errors: Error[] = []
  private readonly runner: MemoryRunner
  private readonly firehose: Firehose
  private readonly listeners = new Set<() => void>()

  constructor(opts: TestFirehoseOptions) {
    this.runner = new MemoryRunner({
      concurrency: 1,
      startCursor: opts.cursor,
      setCursor: async () => this.notify(),
    })
    this.firehose = new Firehose({
      service: opts.service.replace(/^http/, 'ws'),
      idResolver: new IdResolver({ plcUrl: opts.plcUrl, fetch: globalThis.fetch }),
      runner: this.runner,
      maxReconnectSeconds: 1,
      subscriptionReconnectDelay: 200,
      handleEvent: (evt) => {
        this.events.push(evt)
      },
      onError: (err) => {
        this.errors.push(err)
        this.notify()
      },
    })
    void this.firehose.start()
  }

  /** The last seq processed (handled, or refused with an error); the cursor it reconnects with. */
  get cursor(): number | undefined {
    return this.runner.getCursor()
  }

  /** Resolves once every event up to `seq` has been processed. */
  waitForSeq(seq: number, timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(() => (this.cursor ?? 0) >= seq, `seq ${seq}`, timeoutMs)
  }

  /** Resolves once `cond` holds, checked after each processed event. */
  waitUntil(cond: () => boolean, label: string, timeoutMs = 10_000): Promise<void> {
    if (cond()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!cond()) return
        done()
        resolve()
      }
      const timer = setTimeout(() => {
        done()
        const errors = this.errors.map((e) => e.message).join('; ')
        reject(new Error(`firehose consumer waiting for ${label}: at seq ${this.cursor ?? 'none'} with ${this.events.length} events after ${timeoutMs} ms${errors ? ` (errors: ${errors})` : ''}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.listeners.delete(check)
      }
      this.listeners.add(check)
    })
  }

  async destroy(): Promise<void> {
    await this.firehose.destroy()
    await this.runner.destroy()
  }

  private notify(): void {
    for (const l of [...this.listeners]) l()
  }
}
