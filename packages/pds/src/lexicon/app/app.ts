export * as bsky from './bsky.ts'
