import { parentPort } from 'node:worker_threads'
import { verifyJob, type VerifyJob, type VerifyResult } from './commit.ts'
import { SignatureVerifier } from '@atsuite/common/signature'

// A verification thread (VerifyPool): batches of jobs in, results out in
// order, in chunks small enough that the first answers do not wait for the
// whole batch: whatever is done once a millisecond has passed since the last
// chunk (a job is ~0.1 ms), at most 32 at a time.

const CHUNK = 32
const CHUNK_MS = 1
const verifier = new SignatureVerifier()

parentPort!.on('message', (batch: { id: number; job: VerifyJob }[]) => {
  let out: { id: number; result: VerifyResult | { ok: false; reason: 'error'; message: string } }[] = []
  let sentAt = performance.now()
  for (const { id, job } of batch) {
    try {
      out.push({ id, result: verifyJob(verifier, job) })
    } catch (err) {
      out.push({ id, result: { ok: false, reason: 'error', message: (err as Error).message } })
    }
    if (out.length >= CHUNK || performance.now() - sentAt >= CHUNK_MS) {
      parentPort!.postMessage(out)
      out = []
      sentAt = performance.now()
    }
  }
  if (out.length > 0) parentPort!.postMessage(out)
})
