import { Db } from '@atsuite/common'
import type { RelayDbSchema } from './schema.ts'
import { migrations } from './migrations/index.ts'

export type RelayDb = Db<RelayDbSchema>
export type { AccountRow, HostRow, RelayDbSchema } from './schema.ts'

export const openRelayDb = async (location: string): Promise<RelayDb> => {
  const db = new Db<RelayDbSchema>(location)
  await db.migrateToLatest(migrations)
  return db
}
