/**
 * The indexer's batch pacing: live events are applied on the next turn of
 * the event loop; only a backlog (a big batch with the next event already
 * waiting when it was done) makes the next batch collect for a while.
 */
import { BatchPacer } from '../src/indexer/indexer.ts'

const pacer = () => new BatchPacer({ catchUpBatch: 500, catchUpWaitMs: 250, backlogGapMs: 10 })

test('a fresh indexer and small batches apply at once', () => {
  const p = pacer()
  expect(p.waitMs(0)).toBe(0)
  p.applied(499, 1_000)
  expect(p.waitMs(1_000)).toBe(0)
})

test('a big batch with the next event already waiting starts a catch-up batch', () => {
  const p = pacer()
  p.applied(500, 1_000)
  expect(p.waitMs(1_000)).toBe(250)
  expect(p.waitMs(1_009)).toBe(250)
  // the catch-up batch was big too, and events keep coming: still behind
  p.applied(9_000, 2_000)
  expect(p.waitMs(2_001)).toBe(250)
})

test('after the backlog, the first event that was not waiting is live again', () => {
  const p = pacer()
  p.applied(9_000, 1_000)
  expect(p.waitMs(1_010)).toBe(0)
  expect(p.waitMs(5_000)).toBe(0)
  // a small batch ends catch-up even if the next event follows at once
  p.applied(3, 6_000)
  expect(p.waitMs(6_000)).toBe(0)
})
