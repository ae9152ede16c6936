export * from './frames.ts'
export * from './event-log.ts'
export * from './outbox.ts'
export * from './subscription.ts'
