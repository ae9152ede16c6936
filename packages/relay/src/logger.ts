import { subsystemLogger } from '@atsuite/common'

export const httpLogger = subsystemLogger('relay:http')
export const ingestLogger = subsystemLogger('relay:ingest')
export const validateLogger = subsystemLogger('relay:validate')
export const resyncLogger = subsystemLogger('relay:resync')
export const outboxLogger = subsystemLogger('relay:outbox')
