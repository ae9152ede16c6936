export * as actor from './bsky/actor.ts'
export * as embed from './bsky/embed.ts'
export * as feed from './bsky/feed.ts'
export * as graph from './bsky/graph.ts'
