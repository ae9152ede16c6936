import type { Migration } from 'kysely/migration'
import * as m001 from './001-init.ts'
import * as m002 from './002-subject-ids.ts'
import * as m003 from './003-like-keys.ts'
import * as m004 from './004-pair-rowids.ts'

export const migrations: Record<string, Migration> = {
  '001': m001,
  '002': m002,
  '003': m003,
  '004': m004,
}
