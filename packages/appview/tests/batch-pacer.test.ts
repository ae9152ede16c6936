/**
 * The indexer's batch pacing: live events are applied on the next turn of
 * the event loop; only a backlog (the next event already waiting when a batch
 * was done, after a big batch or batches that left the thread no idle time)
 * makes the next batch collect for a while.
 */
import { BatchPacer } from '../src/indexer/indexer.ts'

const pacer = () =>
  new BatchPacer({ catchUpBatch: 500, catchUpWaitMs: 250, backlogGapMs: 10, busyBatches: 3, busyUtilisation: 0.9, stayUtilisation: 0.5 })

test('a fresh indexer and small batches on an idle thread apply at once', () => {
  const p = pacer()
  expect(p.waitMs(0)).toBe(0)
  p.applied(499, 1_000, 0.3)
  expect(p.waitMs(1_000)).toBe(0)
})

test('a big batch with the next event already waiting starts a catch-up batch', () => {
  const p = pacer()
  p.applied(500, 1_000, 0.2)
  expect(p.waitMs(1_000)).toBe(250)
  expect(p.waitMs(1_009)).toBe(250)
  // the catch-up batch was big too, and events keep coming: still behind
  p.applied(9_000, 2_000, 1)
  expect(p.waitMs(2_001)).toBe(250)
})

test('small batches that leave the thread no idle time are a backlog too', () => {
  const p = pacer()
  // a backlog arriving in small reads: 5 events a batch, the loop never idles
  p.applied(5, 1_000, 0.95)
  p.applied(5, 1_002, 0.97)
  expect(p.waitMs(1_002)).toBe(0)
  p.applied(5, 1_004, 0.99)
  expect(p.waitMs(1_004)).toBe(250)
  // the collected batch left some idle time (the stream slowed): still behind above the lower mark
  p.applied(800, 1_300, 0.6)
  expect(p.waitMs(1_301)).toBe(250)
  // mostly idle: live again
  p.applied(40, 1_600, 0.2)
  expect(p.waitMs(1_601)).toBe(0)
})

test('one busy stretch is not a backlog', () => {
  const p = pacer()
  p.applied(5, 1_000, 1)
  p.applied(5, 1_002, 1)
  p.applied(5, 1_004, 0.4)
  p.applied(5, 1_006, 1)
  expect(p.waitMs(1_006)).toBe(0)
})

test('after the backlog, the first event that was not waiting is live again', () => {
  const p = pacer()
  p.applied(9_000, 1_000, 1)
  expect(p.waitMs(1_010)).toBe(0)
  expect(p.waitMs(5_000)).toBe(0)
  // a small batch with idle time before it ends catch-up even if the next event follows at once
  p.applied(3, 6_000, 0.01)
  expect(p.waitMs(6_000)).toBe(0)
})
