import { parentPort } from 'node:worker_threads'
import { verifyJob, type VerifyJob, type VerifyResult } from './commit.ts'
import { SignatureVerifier } from './signature.ts'

// A verification thread (VerifyPool): batches of jobs in, results out, in order.

const verifier = new SignatureVerifier()

parentPort!.on('message', (batch: { id: number; job: VerifyJob }[]) => {
  const out: { id: number; result: VerifyResult | { ok: false; reason: 'error'; message: string } }[] = []
  for (const { id, job } of batch) {
    try {
      out.push({ id, result: verifyJob(verifier, job) })
    } catch (err) {
      out.push({ id, result: { ok: false, reason: 'error', message: (err as Error).message } })
    }
  }
  parentPort!.postMessage(out)
})
