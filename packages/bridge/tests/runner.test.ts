/**
 * The bridge's firehose runner: one DID's events in order, DIDs at once, a
 * cursor that never passes an event not yet done, and a destroy() that
 * returns with events of one DID still queued (the case that kept the local
 * network from stopping on its first SIGTERM).
 */
import { OrderedRunner } from '../src/atproto/runner.ts'

type Gate = { promise: Promise<void>; open: () => void }
const gate = (): Gate => {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}
const tick = () => new Promise((r) => setImmediate(r))

describe('OrderedRunner', () => {
  it("runs one DID's events in order and DIDs side by side; the cursor waits for the oldest event", async () => {
    const saved: number[] = []
    const runner = new OrderedRunner({ startCursor: 3, setCursor: (seq) => void saved.push(seq) })
    const log: string[] = []
    const a1 = gate()
    void runner.trackEvent('did:a', 4, async () => {
      log.push('a4 start')
      await a1.promise
      log.push('a4 end')
    })
    void runner.trackEvent('did:a', 5, async () => void log.push('a5'))
    void runner.trackEvent('did:b', 6, async () => void log.push('b6'))
    await tick()
    // b6 ran while a4 waits; a5 waits behind a4; the cursor stays before a4
    expect(log).toEqual(['a4 start', 'b6'])
    expect(runner.getCursor()).toBe(3)
    expect(saved).toEqual([])
    a1.open()
    await tick()
    expect(log).toEqual(['a4 start', 'b6', 'a4 end', 'a5'])
    expect(runner.getCursor()).toBe(6)
    // a4 moved it to 4, a5 past the already done 6
    expect(saved).toEqual([4, 6])
    expect(runner.backlog).toBe(0)
  })

  it('counts an event whose handler throws as done and reports it', async () => {
    const errors: number[] = []
    const runner = new OrderedRunner({ onError: (_err, seq) => void errors.push(seq) })
    await runner.trackEvent('did:a', 1, async () => {
      throw new Error('bad event')
    })
    await runner.trackEvent('did:a', 2, async () => undefined)
    expect(errors).toEqual([1])
    expect(runner.getCursor()).toBe(2)
  })

  it('destroy() with events of one DID queued waits for the running handler only, and leaves the cursor before the dropped ones', async () => {
    const saved: number[] = []
    const runner = new OrderedRunner({ startCursor: 0, setCursor: (seq) => void saved.push(seq) })
    const ran: number[] = []
    const first = gate()
    void runner.trackEvent('did:a', 1, async () => {
      ran.push(1)
      await first.promise
    })
    for (const seq of [2, 3, 4]) void runner.trackEvent('did:a', seq, async () => void ran.push(seq))
    void runner.trackEvent('did:b', 5, async () => void ran.push(5))
    await tick()
    let destroyed = false
    const destroying = runner.destroy().then(() => (destroyed = true))
    await tick()
    // the running handler is still waited for
    expect(destroyed).toBe(false)
    first.open()
    await destroying
    expect(ran).toEqual([1, 5])
    // 2..4 never ran: the cursor (what a restart resumes after) stops at 1
    expect(runner.getCursor()).toBe(1)
    expect(saved).toEqual([1])
    // nothing is taken after destroy
    await runner.trackEvent('did:c', 6, async () => void ran.push(6))
    expect(ran).toEqual([1, 5])
  })
})

test('a cursor that fails to save is reported, and the events after it still run and save', async () => {
  const saved: number[] = []
  const errors: number[] = []
  let failNext = true
  const runner = new OrderedRunner({
    setCursor: (seq) => {
      if (failNext) {
        failNext = false
        throw new Error('disk full')
      }
      saved.push(seq)
    },
    onError: (_err, seq) => void errors.push(seq),
  })
  await runner.trackEvent('did:a', 1, async () => undefined)
  await runner.trackEvent('did:a', 2, async () => undefined)
  expect(errors).toEqual([1])
  expect(saved).toEqual([2])
  expect(runner.getCursor()).toBe(2)
})
