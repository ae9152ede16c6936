import { Db } from '@atsuite/common'
import type { AppViewSchema } from './schema/index.ts'
import { migrations } from './migrations/index.ts'

export type AppViewDb = Db<AppViewSchema>

export const openAppViewDb = async (location: string): Promise<AppViewDb> => {
  const db = new Db<AppViewSchema>(location)
  // the index is rebuilt from the network if lost; a bigger page cache pays off on reads
  db.sqlite.pragma('cache_size = -65536')
  await db.migrateToLatest(migrations)
  return db
}
