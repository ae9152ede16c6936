// The app.bsky.* schemas the PDS uses, as the same namespace objects as
// `app` from '@atsuite/lexicon': that one imports every app.bsky module (326
// of them, ~10 MiB of memory), this one 60. A schema not listed is a type
// error where it is used: add it to its namespace file in app/bsky/.
export * as app from './app/app.ts'
