/**
 * One server of the test network. The network starts its services in list
 * order (upstream first) and destroys them in reverse. A service that
 * publishes an event stream tells its `head()`; one that consumes another's
 * stream names it as `upstream` and tells how far it has got (`cursor()`,
 * in the upstream's seqs). That is all `TestNetwork.processAll()` needs, so
 * an app view (upstream: the relay) slots in the same way.
 */
export interface NetworkService {
  readonly name: string
  readonly running: boolean
  /** Starts; after `destroy()`, starts again on the same port with the same data. */
  start(): Promise<void>
  /** Stops cleanly, keeping its data (the network removes its temp directory on close). */
  destroy(): Promise<void>
  /** Seq of the last event on this service's own stream (the last known one while stopped). */
  head?(): number
  /** The service whose stream this one consumes. */
  readonly upstream?: NetworkService
  /** Last upstream seq this service has fully processed. */
  cursor?(): number
  /**
   * Resolves once `cursor() >= seq` and what processing it produced is on this
   * service's own stream; rejects after `timeoutMs` saying which cursor is behind.
   */
  waitForCursor?(seq: number, timeoutMs: number): Promise<void>
}
