import { readFileSync } from 'node:fs'
import type { Logger } from '@atsuite/common'
import type { PlcDb } from './db/index.ts'
import { PlcDirectory } from './directory/directory.ts'
import { OperationStore } from './directory/store.ts'
import { plcLogger } from './logger.ts'

export type AppContext = {
  db: PlcDb
  directory: PlcDirectory
  logger: Logger
  version: string
}

/** Collaborators a test may swap through PlcServer.create(config, overrides). */
export type PlcOverrides = {
  /** Source of `createdAt` for new ops (the 72 h recovery window is measured against it). */
  clock?: () => Date
  logger?: Logger
}

const readVersion = (): string => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string
    }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

/** The composition root: every long-lived collaborator is built here. */
export const createContext = (db: PlcDb, overrides: PlcOverrides = {}): AppContext => {
  const logger = overrides.logger ?? plcLogger
  const directory = new PlcDirectory({
    store: new OperationStore(db),
    clock: overrides.clock ?? (() => new Date()),
    logger,
  })
  return { db, directory, logger, version: readVersion() }
}
