export * as defs from '@atsuite/lexicon/app/bsky/graph/defs'
export * as getList from '@atsuite/lexicon/app/bsky/graph/getList'
export * as list from '@atsuite/lexicon/app/bsky/graph/list'
