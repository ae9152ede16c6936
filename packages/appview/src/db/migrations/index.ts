import type { Migration } from 'kysely/migration'
import * as m001 from './001-init.ts'

export const migrations: Record<string, Migration> = {
  '001': m001,
}
