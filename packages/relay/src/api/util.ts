import type { Server } from '@atproto/xrpc-server'
import type { RelayContext } from '../context.ts'

export type Route = (server: Server, ctx: RelayContext) => void

export const json = <T>(body: T) => ({ encoding: 'application/json' as const, body })
