// The synthetic stream's two moving parts as the orchestrator drives them:
// the fake host worker (host.ts) and the pre-generation of every frame by
// one generator worker per core (generate.ts), each writing its slice of the
// stream to its own file. The history spans the 30 days before the run.
import fs from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { nextMessage, repoRoot, startWorker } from '../relay-lib/proc.ts'
import type { Account } from './identities.ts'
import type { Plan } from './plan.ts'

const lib = path.join(repoRoot, 'scripts/bench/appview-lib')

export type Host = { child: ChildProcess; url: string; port: number }

export const startHost = async (workDir: string, name: string): Promise<Host> => {
  const child = startWorker(path.join(lib, 'host.ts'), [], path.join(workDir, `${name}.log`))
  const ready = await nextMessage<{ type: string; url: string; port: number }>(child, 'ready', 60_000)
  return { child, url: ready.url, port: ready.port }
}

export type FrameFile = { file: string; firstSeq: number; frames: number }
export type Pregenerated = { files: FrameFile[]; t0: number; dt: number; seconds: number; bytes: number }

const SPAN_MICROS = 30 * 24 * 3600 * 1e6

export const pregenerate = async (opts: {
  workDir: string
  name: string
  scale: number
  /** the --accounts override, when given */
  accountCount?: number
  seed: number
  accounts: Account[]
  plan: Plan
  host: Host
  workers: number
  log: (m: string) => void
}): Promise<Pregenerated> => {
  const { workDir, name, plan } = opts
  const accountsFile = path.join(workDir, `${name}-accounts.json`)
  fs.writeFileSync(accountsFile, JSON.stringify(opts.accounts.map((a) => ({ did: a.did, handle: a.handle }))))
  opts.host.child.send({ type: 'accounts', file: accountsFile })
  const didsFile = path.join(workDir, `${name}-dids.json`)
  fs.writeFileSync(didsFile, JSON.stringify(opts.accounts.map((a) => a.did)))
  const t0 = Math.floor((Date.now() * 1000 - SPAN_MICROS) / 1000) * 1000
  const dt = Math.floor(SPAN_MICROS / plan.events)
  const started = Date.now()
  const files: FrameFile[] = []
  const done = new Array<number>(opts.workers).fill(0)
  const children: Promise<{ bytes: number }>[] = []
  for (let w = 0; w < opts.workers; w++) {
    const from = Math.floor((w * plan.events) / opts.workers)
    const to = Math.floor(((w + 1) * plan.events) / opts.workers)
    const file = path.join(workDir, `${name}-${w}.frames`)
    files.push({ file, firstSeq: from + 1, frames: to - from })
    const args = ['--scale', String(opts.scale), ...(opts.accountCount ? ['--accounts', String(opts.accountCount)] : []), '--seed', String(opts.seed), '--dids', didsFile, '--t0', String(t0), '--dt', String(dt), '--from', String(from), '--to', String(to), '--file', file]
    const child = startWorker(path.join(lib, 'generate.ts'), args, path.join(workDir, `${name}-gen-${w}.log`))
    child.on('message', (m: { type: string; done?: number }) => {
      if (m.type === 'progress') done[w] = m.done ?? 0
    })
    children.push(nextMessage<{ type: string; bytes: number }>(child, 'done', 3_600_000))
  }
  const timer = setInterval(() => {
    const n = done.reduce((a, b) => a + b, 0)
    opts.log(`  generated ${n.toLocaleString('en-US')} of ${plan.events.toLocaleString('en-US')} frames`)
  }, 15_000)
  try {
    const results = await Promise.all(children)
    const seconds = (Date.now() - started) / 1000
    const bytes = results.reduce((n, r) => n + r.bytes, 0)
    opts.log(`pre-generated ${plan.events.toLocaleString('en-US')} frames in ${seconds.toFixed(0)} s (${(bytes / 1e9).toFixed(2)} GB)`)
    return { files, t0, dt, seconds, bytes }
  } finally {
    clearInterval(timer)
  }
}
