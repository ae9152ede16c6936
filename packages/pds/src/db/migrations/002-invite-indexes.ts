import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // admin getAccountInfo(s)/searchAccounts and disableInviteCodes by account: the codes an account owns
  await db.schema.createIndex('invite_code_for_account_idx').on('invite_code').column('forAccount').execute()
  // admin getAccountInfo(s)/searchAccounts: the code an account signed up with (invitedBy)
  await db.schema.createIndex('invite_code_use_used_by_idx').on('invite_code_use').column('usedBy').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('invite_code_use_used_by_idx').execute()
  await db.schema.dropIndex('invite_code_for_account_idx').execute()
}
