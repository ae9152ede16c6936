// com.atproto.* only: services that serve nothing else (the relay) load ~100 modules, not ~560.
export * as com from './generated/com.ts'
