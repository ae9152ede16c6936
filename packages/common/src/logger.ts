import { pino, type Logger } from 'pino'

// One root logger; each subsystem takes a named child. LOG_ENABLED=false (the
// reference PDS's switch) silences everything; LOG_LEVEL picks the level.
const enabled = process.env.LOG_ENABLED !== 'false' && process.env.NODE_ENV !== 'test'

export const rootLogger: Logger = pino({
  enabled,
  level: process.env.LOG_LEVEL ?? 'info',
  redact: {
    paths: ['password', '*.password', 'secret', '*.secret', 'req.headers.authorization'],
    censor: '[redacted]',
  },
})

export const subsystemLogger = (name: string): Logger => rootLogger.child({ name })

export type { Logger }
