// Typed lexicon schemas generated from the top-level lexicons/ by `lex build`
// (scripts/lexicons-build.ts, run by `npm install`). Register XRPC methods with
// them: `server.add(com.atproto.repo.getRecord, { handler })` types params,
// input, output and auth from the lexicon.
export { com, app } from './generated/index.ts'
export { l } from '@atproto/lex-schema'
