import path from 'node:path'
import { ConfigError, envInt, envStr, type Env } from '@atsuite/common'

export type PlcConfig = {
  /** 0 lets the OS choose; read the bound port from `PlcServer.port`. */
  port: number
  host: string
  /** A SQLite file path, or ':memory:'. */
  dbLocation: string
}

/** Raw PLC_ variables; empty strings count as unset. */
export type PlcEnv = {
  port?: number
  host?: string
  dataDirectory?: string
  dbLocation?: string
}

export const DEFAULT_PORT = 2582
export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_DATA_DIRECTORY = './data/plc'
export const DB_FILENAME = 'plc.sqlite'

export const readEnv = (env: Env = process.env): PlcEnv => ({
  port: envInt(env, 'PLC_PORT'),
  host: envStr(env, 'PLC_HOST'),
  dataDirectory: envStr(env, 'PLC_DATA_DIRECTORY'),
  dbLocation: envStr(env, 'PLC_DB_LOCATION'),
})

/**
 * Fills in defaults and checks ranges. Pure: it does not create the data
 * directory (PlcServer.create does, for file databases).
 */
export const envToConfig = (env: PlcEnv): PlcConfig => {
  const port = env.port ?? DEFAULT_PORT
  if (port < 0 || port > 65535) {
    throw new ConfigError(`PLC_PORT must be between 0 and 65535, got ${port}`)
  }
  const dataDirectory = env.dataDirectory ?? DEFAULT_DATA_DIRECTORY
  return {
    port,
    host: env.host ?? DEFAULT_HOST,
    dbLocation: env.dbLocation ?? path.join(dataDirectory, DB_FILENAME),
  }
}
