import { Db } from '@atsuite/common'
import type { AccountDbSchema } from './schema.ts'
import { migrations } from './migrations/index.ts'

export type AccountDb = Db<AccountDbSchema>

export const openAccountDb = async (location: string): Promise<AccountDb> => {
  const db = new Db<AccountDbSchema>(location)
  await db.migrateToLatest(migrations)
  return db
}
