import { subsystemLogger } from '@atsuite/common'

const log = subsystemLogger('pds:crawlers')
const NOTIFY_THRESHOLD_MS = 20 * 60 * 1000

/**
 * Tells relays (`PDS_CRAWLERS`) about this host with
 * com.atproto.sync.requestCrawl: once at start, and again on the first
 * write after 20 minutes of quiet (a relay that dropped us while we were
 * idle picks us up again), as the reference PDS does. Failures are logged,
 * never fatal.
 */
export class Crawlers {
  private readonly hostname: string
  private readonly crawlers: string[]
  private lastNotified = 0

  constructor(hostname: string, crawlers: string[]) {
    this.hostname = hostname
    this.crawlers = crawlers
  }

  /** Called on every commit; cheap when nothing is due. */
  notifyOfUpdate(): void {
    if (this.crawlers.length === 0) return
    if (Date.now() - this.lastNotified < NOTIFY_THRESHOLD_MS) return
    void this.requestCrawl()
  }

  async requestCrawl(): Promise<void> {
    if (this.crawlers.length === 0) return
    this.lastNotified = Date.now()
    await Promise.all(
      this.crawlers.map(async (url) => {
        try {
          const res = await fetch(new URL('/xrpc/com.atproto.sync.requestCrawl', url), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ hostname: this.hostname }),
            signal: AbortSignal.timeout(10_000),
          })
          if (!res.ok) log.warn({ crawler: url, status: res.status, body: await res.text() }, 'requestCrawl refused')
        } catch (err) {
          log.warn({ crawler: url, err: (err as Error).message }, 'requestCrawl failed')
        }
      }),
    )
  }
}
