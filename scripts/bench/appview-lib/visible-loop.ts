// The post→visible measurement loop, shared by our network and the reference
// one (so it imports nothing): every `intervalMs` one post is written, then
// the app view is polled back to back until it shows the post. Two figures
// per post: from createRecord's response, and from the moment it was sent.

export type VisibleResult = { afterWrite: number[]; fromSend: number[]; timeouts: number; writeMs: number[] }

export const postToVisible = async (opts: {
  count: number
  warmup: number
  intervalMs: number
  timeoutMs: number
  write: (i: number) => Promise<string>
  isVisible: (uri: string) => Promise<boolean>
}): Promise<VisibleResult> => {
  const out: VisibleResult = { afterWrite: [], fromSend: [], timeouts: 0, writeMs: [] }
  for (let i = 0; i < opts.warmup + opts.count; i++) {
    const t0 = performance.now()
    const uri = await opts.write(i)
    const t1 = performance.now()
    let seen = false
    while (!seen && performance.now() - t1 < opts.timeoutMs) seen = await opts.isVisible(uri)
    const t2 = performance.now()
    if (i >= opts.warmup) {
      if (!seen) out.timeouts++
      else {
        out.afterWrite.push(t2 - t1)
        out.fromSend.push(t2 - t0)
        out.writeMs.push(t1 - t0)
      }
    }
    const wait = t0 + opts.intervalMs - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  }
  return out
}
