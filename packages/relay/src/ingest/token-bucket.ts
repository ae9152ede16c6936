/**
 * A token bucket: `rate` tokens a second, holding at most one second's
 * worth. Callers that find it empty wait `waitMs()` instead of dropping.
 * Runs on the monotonic clock, never on an overridden test clock.
 */
export class TokenBucket {
  private rate: number
  private tokens: number
  private last: number
  constructor(rate: number) {
    this.rate = rate
    this.tokens = rate
    this.last = performance.now()
  }

  setRate(rate: number): void {
    this.refill()
    this.rate = rate
    this.tokens = Math.min(this.tokens, rate)
  }

  get perSecond(): number {
    return this.rate
  }

  take(): boolean {
    // refill first, always: taking stored tokens without advancing `last`
    // would credit the same idle time twice (a double burst)
    this.refill()
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }

  /** Milliseconds until a token is available. */
  waitMs(): number {
    return Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000))
  }

  private refill(): void {
    const now = performance.now()
    const elapsed = now - this.last
    if (elapsed <= 0) return
    this.last = now
    this.tokens = Math.min(this.rate, this.tokens + (elapsed / 1000) * this.rate)
  }
}
