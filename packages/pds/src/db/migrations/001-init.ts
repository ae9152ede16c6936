import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('account')
    .addColumn('did', 'varchar', (col) => col.primaryKey())
    .addColumn('handle', 'varchar')
    .addColumn('email', 'varchar')
    .addColumn('passwordScrypt', 'varchar')
    .addColumn('emailConfirmedAt', 'varchar')
    .addColumn('createdAt', 'varchar', (col) => col.notNull())
    .addColumn('deactivatedAt', 'varchar')
    .addColumn('deleteAfter', 'varchar')
    .addColumn('takedownRef', 'varchar')
    .addColumn('invitesDisabled', 'integer', (col) => col.notNull().defaultTo(0))
    .execute()
  // login and resolveHandle by handle; createAccount uniqueness
  await db.schema.createIndex('account_handle_idx').unique().on('account').column('handle').execute()
  // login by email; createAccount uniqueness
  await db.schema.createIndex('account_email_idx').unique().on('account').column('email').execute()

  await db.schema
    .createTable('refresh_token')
    .addColumn('id', 'varchar', (col) => col.primaryKey())
    .addColumn('did', 'varchar', (col) => col.notNull())
    .addColumn('appPasswordName', 'varchar')
    .addColumn('expiresAt', 'varchar', (col) => col.notNull())
    .addColumn('nextId', 'varchar')
    .execute()
  // revoke all sessions of an account / of an app password
  await db.schema.createIndex('refresh_token_did_idx').on('refresh_token').column('did').execute()

  await db.schema
    .createTable('app_password')
    .addColumn('did', 'varchar', (col) => col.notNull())
    .addColumn('name', 'varchar', (col) => col.notNull())
    .addColumn('passwordScrypt', 'varchar', (col) => col.notNull())
    .addColumn('createdAt', 'varchar', (col) => col.notNull())
    .addColumn('privileged', 'integer', (col) => col.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('app_password_pkey', ['did', 'name'])
    .execute()

  await db.schema
    .createTable('invite_code')
    .addColumn('code', 'varchar', (col) => col.primaryKey())
    .addColumn('availableUses', 'integer', (col) => col.notNull())
    .addColumn('disabled', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('forAccount', 'varchar', (col) => col.notNull())
    .addColumn('createdBy', 'varchar', (col) => col.notNull())
    .addColumn('createdAt', 'varchar', (col) => col.notNull())
    .execute()
  await db.schema
    .createTable('invite_code_use')
    .addColumn('code', 'varchar', (col) => col.notNull())
    .addColumn('usedBy', 'varchar', (col) => col.notNull())
    .addColumn('usedAt', 'varchar', (col) => col.notNull())
    .addPrimaryKeyConstraint('invite_code_use_pkey', ['code', 'usedBy'])
    .execute()

  await db.schema
    .createTable('email_token')
    .addColumn('purpose', 'varchar', (col) => col.notNull())
    .addColumn('did', 'varchar', (col) => col.notNull())
    .addColumn('token', 'varchar', (col) => col.notNull())
    .addColumn('requestedAt', 'varchar', (col) => col.notNull())
    .addPrimaryKeyConstraint('email_token_pkey', ['purpose', 'did'])
    .execute()
  // resetPassword looks a token up without knowing the account
  await db.schema.createIndex('email_token_token_idx').on('email_token').columns(['purpose', 'token']).execute()

  await db.schema
    .createTable('repo_root')
    .addColumn('did', 'varchar', (col) => col.primaryKey())
    .addColumn('cid', 'varchar', (col) => col.notNull())
    .addColumn('rev', 'varchar', (col) => col.notNull())
    .addColumn('indexedAt', 'varchar', (col) => col.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['repo_root', 'email_token', 'invite_code_use', 'invite_code', 'app_password', 'refresh_token', 'account']) {
    await db.schema.dropTable(t).execute()
  }
}
