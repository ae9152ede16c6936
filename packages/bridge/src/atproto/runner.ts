export type RunnerOptions = {
  startCursor?: number
  /** called (and awaited, in the DID's order) each time the cursor moves */
  setCursor?: (seq: number) => void | Promise<void>
  /** a handler that threw (the event counts as done: one bad event must not hold the cursor forever) */
  onError?: (err: unknown, seq: number) => void
}

/**
 * How the bridge's firehose events are run (`@atproto/sync`'s `EventRunner`):
 * one DID's events strictly in stream order, different DIDs at once, and a
 * cursor that only moves past a seq once it and every seq before it are done.
 *
 * `@atproto/sync`'s own MemoryRunner is not used here: its `destroy()` clears
 * the queued tasks of each DID without settling them and then waits for them,
 * so with two events of one DID queued at shutdown it never returns (the
 * local network then ignored its first SIGTERM). Here `destroy()` drops what
 * has not started and waits only for handlers already running.
 */
export class OrderedRunner {
  private cursor: number | undefined
  /** seqs taken in, in stream order, not yet below the cursor */
  private order: number[] = []
  private head = 0
  private readonly done = new Set<number>()
  /** the last task of each DID with work queued or running */
  private readonly tails = new Map<string, Promise<void>>()
  private stopped = false
  private readonly opts: RunnerOptions

  constructor(opts: RunnerOptions = {}) {
    this.opts = opts
    this.cursor = opts.startCursor
  }

  getCursor(): number | undefined {
    return this.cursor
  }

  /** Events started or queued and not yet done. */
  get backlog(): number {
    return this.order.length - this.head
  }

  trackEvent(did: string, seq: number, handler: () => Promise<void>): Promise<void> {
    if (this.stopped) return Promise.resolve()
    this.order.push(seq)
    const prev = this.tails.get(did)
    const run = async (): Promise<void> => {
      if (this.stopped) return
      try {
        await handler()
      } catch (err) {
        this.opts.onError?.(err, seq)
      }
      const moved = this.complete(seq)
      try {
        if (moved !== undefined) await this.opts.setCursor?.(moved)
      } catch (err) {
        // the next move saves it again; a task never rejects (nobody awaits it, and the DID's next waits on it)
        this.opts.onError?.(err, seq)
      }
    }
    const task = (prev ? prev.then(run) : run()).finally(() => {
      if (this.tails.get(did) === task) this.tails.delete(did)
    })
    this.tails.set(did, task)
    return task
  }

  /** Takes no more events, drops those not started, and resolves when the running ones are done. */
  async destroy(): Promise<void> {
    this.stopped = true
    while (this.tails.size > 0) await Promise.all([...this.tails.values()])
  }

  /** Marks `seq` done; returns the new cursor if it moved. */
  private complete(seq: number): number | undefined {
    this.done.add(seq)
    let moved: number | undefined
    while (this.head < this.order.length && this.done.has(this.order[this.head])) {
      moved = this.order[this.head]
      this.done.delete(moved)
      this.head++
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head)
      this.head = 0
    }
    if (moved !== undefined) this.cursor = moved
    return moved
  }
}
