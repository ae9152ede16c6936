import type { Kysely } from 'kysely'

// Sign-in with a code mailed to the account's (confirmed) address on top of the password.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('account').addColumn('emailAuthFactor', 'integer', (col) => col.notNull().defaultTo(0)).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('account').dropColumn('emailAuthFactor').execute()
}
