import { Db } from '@atsuite/common'
import type { BridgeDbSchema } from './schema.ts'
import { migrations } from './migrations.ts'

export type BridgeDb = Db<BridgeDbSchema>

export const openBridgeDb = async (location: string): Promise<BridgeDb> => {
  const db = new Db<BridgeDbSchema>(location)
  await db.migrateToLatest(migrations)
  return db
}
