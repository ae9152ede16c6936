import { Worker } from 'node:worker_threads'
import { validateLogger as log } from '../logger.ts'
import { verifyJob, type VerifyJob, type VerifyResult } from './commit.ts'
import type { SignatureVerifier } from '@atsuite/common/signature'

type Pending = { job: VerifyJob; resolve: (r: VerifyResult) => void; reject: (e: Error) => void }
type Reply = { id: number; result: VerifyResult | { ok: false; reason: 'error'; message: string } }
type Slot = { w: Worker; inflight: Set<number>; queue: { id: number; job: VerifyJob }[] }

const BATCH = 256

const own = (b: Uint8Array): Uint8Array => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice())

// byte fields are views into socket read buffers: cloning a view copies its whole
// backing ArrayBuffer, so a thread gets compact copies instead
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
 * threads are picked by fewest jobs outstanding. With `threads = 0` jobs run
 * inline and the answer is synchronous. A thread that dies has its jobs
 * finished inline and is replaced.
 */
export class VerifyPool {
  private readonly slots: Slot[] = []
  private readonly pending = new Map<number, Pending>()
  private readonly inline: SignatureVerifier
  private nextId = 1
  private scheduled = false
  private closed = false

  constructor(threads: number, inline: SignatureVerifier) {
    this.inline = inline
    for (let i = 0; i < threads; i++) this.slots.push(this.spawn())
  }

  get threads(): number {
    return this.slots.length
  }

  /** Event-loop utilisation of each verification thread since it started (0..1). */
  utilization(): number[] {
    return this.slots.map((s) => s.w.performance.eventLoopUtilization().utilization)
  }

  private spawn(): Slot {
    const w = new Worker(new URL('./verify-worker.ts', import.meta.url))
    w.unref()
    const slot: Slot = { w, inflight: new Set(), queue: [] }
    w.on('message', (replies: Reply[]) => {
      for (const { id, result } of replies) {
        slot.inflight.delete(id)
        const p = this.pending.get(id)
        if (!p) continue
        this.pending.delete(id)
        if (result.ok === false && result.reason === 'error') p.reject(new Error(result.message))
        else p.resolve(result as VerifyResult)
      }
    })
    w.on('error', (err) => log.error({ err }, 'verification thread failed'))
    w.on('exit', (code) => {
      if (this.closed) return
      log.error({ code }, 'verification thread exited; replacing it')
      const i = this.slots.indexOf(slot)
      if (i >= 0) this.slots[i] = this.spawn()
      for (const id of [...slot.inflight, ...slot.queue.map((q) => q.id)]) this.runInline(id)
    })
    return slot
  }

  private runInline(id: number): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    try {
      p.resolve(verifyJob(this.inline, p.job))
    } catch (err) {
      p.reject(err as Error)
    }
  }

  verify(job: VerifyJob): VerifyResult | Promise<VerifyResult> {
    if (this.slots.length === 0 || this.closed) return verifyJob(this.inline, job)
    const id = this.nextId++
    const compacted = compact(job)
    let slot = this.slots[0]
    for (const s of this.slots) if (s.inflight.size + s.queue.length < slot.inflight.size + slot.queue.length) slot = s
    slot.queue.push({ id, job: compacted })
    if (slot.queue.length >= BATCH) this.send(slot)
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    return new Promise<VerifyResult>((resolve, reject) => this.pending.set(id, { job: compacted, resolve, reject }))
  }

  private flush(): void {
    this.scheduled = false
    for (const slot of this.slots) if (slot.queue.length > 0) this.send(slot)
  }

  private send(slot: Slot): void {
    const batch = slot.queue
    slot.queue = []
    for (const { id } of batch) slot.inflight.add(id)
    slot.w.postMessage(batch)
  }

  async close(): Promise<void> {
    this.closed = true
    for (const p of this.pending.values()) p.reject(new Error('relay shutting down'))
    this.pending.clear()
    await Promise.all(this.slots.map((s) => s.w.terminate()))
  }
}
