import { Db } from '@atsuite/common'
import { migrations } from './migrations/index.ts'
import type { PlcSchema } from './schema/index.ts'

export type { PlcSchema }

/** The directory's SQLite database (common `Db`: WAL, synchronous=NORMAL, Kysely + raw handle). */
export type PlcDb = Db<PlcSchema>

/** Opens the database and brings its schema up to date. */
export const openPlcDb = async (location: string): Promise<PlcDb> => {
  const db = new Db<PlcSchema>(location)
  try {
    await db.migrateToLatest(migrations)
  } catch (err) {
    await db.close()
    throw err
  }
  return db
}
