import net from 'node:net'
import type { EventLog } from '@atsuite/common'

/** A loopback port that was free a moment ago (for a server that must know its port before it binds). */
/**
 * A loopback port to listen on later (a service whose URL and DID must name
 * its port before it starts). Taken below the kernel's ephemeral range
 * (32768+ here), where outgoing connections take their local ports, so none
 * of them can land on it in between; each jest worker draws from its own
 * slice, and one process never hands out the same port twice.
 */
const handedOut = new Set<number>()
const SLICE = 2000
const BASE = 20000

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })

export const freePort = async (): Promise<number> => {
  const worker = Number(process.env.JEST_WORKER_ID ?? 0)
  const start = BASE + (worker % 6) * SLICE
  for (let i = 0; i < 200; i++) {
    const port = start + Math.floor(Math.random() * SLICE)
    if (handedOut.has(port)) continue
    if (await canListen(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error(`no free loopback port in ${start}-${start + SLICE}`)
}

/** Subscribes `fn` to something that may make a condition true; returns the unsubscribe. */
export type Wakeup = (fn: () => void) => () => void

/** Wakes on every append to an event log (a PDS sequencer, the relay's merged log). */
export const onAppend =
  (log: EventLog): Wakeup =>
  (fn) => {
    log.on('events', fn)
    return () => void log.off('events', fn)
  }

export type WaitOptions = {
  timeoutMs: number
  /** sources whose notifications may make `cond` true: it is checked again on each */
  wakeOn?: Wakeup[]
  /** fallback check interval, for progress no source reports (dropped events append nothing) */
  pollMs?: number
  /** what is behind, for the timeout error; computed when the time is up */
  describe: () => string
}

/**
 * Resolves once `cond()` holds: checked at once, on every wake-up and every
 * `pollMs`. Rejects after `timeoutMs` with `describe()`. The one polling loop
 * of the test network: tests wait through it, never with their own sleeps.
 */
export const waitUntil = (cond: () => boolean, opts: WaitOptions): Promise<void> => {
  if (cond()) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const unsubscribe: (() => void)[] = []
    const finish = (err?: Error) => {
      clearInterval(poll)
      clearTimeout(timer)
      for (const u of unsubscribe) u()
      if (err) reject(err)
      else resolve()
    }
    const check = () => {
      let ok: boolean
      try {
        ok = cond()
      } catch (err) {
        finish(err as Error)
        return
      }
      if (ok) finish()
    }
    const poll = setInterval(check, opts.pollMs ?? 10)
    const timer = setTimeout(() => finish(new Error(`${opts.describe()} (after ${opts.timeoutMs} ms)`)), opts.timeoutMs)
    for (const w of opts.wakeOn ?? []) unsubscribe.push(w(check))
  })
}

/** Lets callbacks already queued with setImmediate run (the relay appends a batch of events that way). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * After a server in this process closed its connections: lets the clients'
 * ends see the close (a poll phase, then the 'end' ticks) before anything
 * else runs. Without it a server restarted within the same event-loop turn
 * gets requests on keep-alive sockets of its predecessor (undici: "other side
 * closed").
 */
export const clientsSeeClose = async (): Promise<void> => {
  await nextTurn()
  await nextTurn()
}
