import type { Migration } from 'kysely/migration'
import * as m001 from './001-init.ts'

// Append-only: never edit or reorder a migration that has shipped.
export const migrations: Record<string, Migration> = {
  '001-init': m001,
}
