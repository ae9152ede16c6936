/**
 * One run at a time per key: a caller asking for a key whose run is under
 * way gets that run's promise rather than starting another (one blob
 * download, one account creation, one domain check however many requests
 * want it at once). The key is free again once the run settles.
 */
export class SingleFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>()

  run(key: K, fn: () => Promise<V>): Promise<V> {
    let p = this.running.get(key)
    if (!p) {
      p = fn().finally(() => this.running.delete(key))
      this.running.set(key, p)
    }
    return p
  }
}
