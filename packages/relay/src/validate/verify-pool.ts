import { Worker } from 'node:worker_threads'
import { validateLogger as log } from '../logger.ts'
import { verifyJob, type VerifyJob, type VerifyResult } from './commit.ts'
import type { SignatureVerifier } from './signature.ts'

type Pending = { resolve: (r: VerifyResult) => void; reject: (e: Error) => void }
type Reply = { id: number; result: VerifyResult | { ok: false; reason: 'error'; message: string } }

const BATCH = 256

const own = (b: Uint8Array): Uint8Array => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice())

const compact = (job: VerifyJob): VerifyJob => ({
  ...job,
  blocks: own(job.blocks),
  root: job.root && own(job.root),
  base: job.base && own(job.base),
  ops: job.ops && job.ops.map((op) => ({ ...op, cid: op.cid && own(op.cid), prev: op.prev && own(op.prev) })),
})

/**
 * Runs commit verification (CAR parse, signature, inversion — verifyJob) on
 * worker threads, so the main thread is left with ordering, state and
 * fan-out. Jobs queued in one event-loop turn go to a thread as one message;
 * threads are picked by fewest jobs in flight. With `threads = 0` jobs run
 * inline and the answer is synchronous.
 */
export class VerifyPool {
  private readonly workers: { w: Worker; inflight: number; queue: { id: number; job: VerifyJob }[] }[] = []
  private readonly pending = new Map<number, Pending>()
  private readonly inline: SignatureVerifier
  private nextId = 1
  private scheduled = false
  private closed = false

  constructor(threads: number, inline: SignatureVerifier) {
    this.inline = inline
    for (let i = 0; i < threads; i++) this.spawn()
  }

  get threads(): number {
    return this.workers.length
  }

  /** Event-loop utilisation of each verification thread since it started (0..1). */
  utilization(): number[] {
    return this.workers.map((s) => s.w.performance.eventLoopUtilization().utilization)
  }

  private spawn(): void {
    const w = new Worker(new URL('./verify-worker.ts', import.meta.url))
    w.unref()
    const slot = { w, inflight: 0, queue: [] as { id: number; job: VerifyJob }[] }
    w.on('message', (replies: Reply[]) => {
      slot.inflight -= replies.length
      for (const { id, result } of replies) {
        const p = this.pending.get(id)
        if (!p) continue
        this.pending.delete(id)
        if (result.ok === false && result.reason === 'error') p.reject(new Error(result.message))
        else p.resolve(result as VerifyResult)
      }
    })
    w.on('error', (err) => {
      log.error({ err }, 'verification thread failed')
    })
    this.workers.push(slot)
  }

  verify(job: VerifyJob): VerifyResult | Promise<VerifyResult> {
    if (this.workers.length === 0 || this.closed) return verifyJob(this.inline, job)
    const id = this.nextId++
    // byte fields are views into socket read buffers: cloning a view copies its whole
    // backing ArrayBuffer, so hand the thread compact copies instead
    job = compact(job)
    let slot = this.workers[0]
    for (const s of this.workers) if (s.inflight + s.queue.length < slot.inflight + slot.queue.length) slot = s
    slot.queue.push({ id, job })
    if (slot.queue.length >= BATCH) this.send(slot)
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    return new Promise<VerifyResult>((resolve, reject) => this.pending.set(id, { resolve, reject }))
  }

  private flush(): void {
    this.scheduled = false
    for (const slot of this.workers) if (slot.queue.length > 0) this.send(slot)
  }

  private send(slot: (typeof this.workers)[number]): void {
    const batch = slot.queue
    slot.queue = []
    slot.inflight += batch.length
    slot.w.postMessage(batch)
  }

  async close(): Promise<void> {
    this.closed = true
    for (const p of this.pending.values()) p.reject(new Error('relay shutting down'))
    this.pending.clear()
    await Promise.all(this.workers.map((s) => s.w.terminate()))
  }
}
