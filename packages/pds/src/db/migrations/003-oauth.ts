import type { Kysely } from 'kysely'

// The OAuth authorization server's state (see oauth/store.ts): browsers that
// signed in (devices), which accounts each remembers, the apps each account
// approved, pending authorization requests and issued tokens.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oauth_device')
    .addColumn('id', 'varchar', (col) => col.primaryKey())
    .addColumn('sessionId', 'varchar', (col) => col.notNull())
    .addColumn('userAgent', 'varchar')
    .addColumn('ipAddress', 'varchar', (col) => col.notNull())
    .addColumn('lastSeenAt', 'varchar', (col) => col.notNull())
    .execute()

  await db.schema
    .createTable('oauth_account_device')
    .addColumn('deviceId', 'varchar', (col) => col.notNull().references('oauth_device.id').onDelete('cascade'))
    .addColumn('did', 'varchar', (col) => col.notNull().references('account.did').onDelete('cascade'))
    .addColumn('createdAt', 'varchar', (col) => col.notNull())
    .addColumn('updatedAt', 'varchar', (col) => col.notNull())
    .addPrimaryKeyConstraint('oauth_account_device_pkey', ['deviceId', 'did'])
    .execute()
  // the account page: every device an account is signed in on
  await db.schema.createIndex('oauth_account_device_did_idx').on('oauth_account_device').column('did').execute()

  await db.schema
    .createTable('oauth_authorized_client')
    .addColumn('did', 'varchar', (col) => col.notNull().references('account.did').onDelete('cascade'))
    .addColumn('clientId', 'varchar', (col) => col.notNull())
    .addColumn('data', 'varchar', (col) => col.notNull())
    .addColumn('createdAt', 'varchar', (col) => col.notNull())
    .addColumn('updatedAt', 'varchar', (col) => col.notNull())
    .addPrimaryKeyConstraint('oauth_authorized_client_pkey', ['did', 'clientId'])
    .execute()

  await db.schema
    .createTable('oauth_request')
    .addColumn('id', 'varchar', (col) => col.primaryKey())
    .addColumn('clientId', 'varchar', (col) => col.notNull())
    .addColumn('clientAuth', 'varchar')
    .addColumn('parameters', 'varchar', (col) => col.notNull())
    .addColumn('expiresAt', 'varchar', (col) => col.notNull())
    .addColumn('deviceId', 'varchar')
    .addColumn('did', 'varchar')
    .addColumn('code', 'varchar')
    .execute()
  // the token endpoint: a code is looked up (and consumed) exactly once
  await db.schema.createIndex('oauth_request_code_idx').unique().on('oauth_request').column('code').execute()
  // expired requests are swept
  await db.schema.createIndex('oauth_request_expires_idx').on('oauth_request').column('expiresAt').execute()

  await db.schema
    .createTable('oauth_token')
    .addColumn('id', 'integer', (col) => col.primaryKey().autoIncrement())
    .addColumn('tokenId', 'varchar', (col) => col.notNull())
    .addColumn('did', 'varchar', (col) => col.notNull().references('account.did').onDelete('cascade'))
    .addColumn('clientId', 'varchar', (col) => col.notNull())
    .addColumn('clientAuth', 'varchar', (col) => col.notNull())
    .addColumn('deviceId', 'varchar')
    .addColumn('parameters', 'varchar', (col) => col.notNull())
    .addColumn('code', 'varchar')
    .addColumn('currentRefreshToken', 'varchar')
    .addColumn('scope', 'varchar')
    .addColumn('createdAt', 'varchar', (col) => col.notNull())
    .addColumn('updatedAt', 'varchar', (col) => col.notNull())
    .addColumn('expiresAt', 'varchar', (col) => col.notNull())
    .execute()
  // every resource request (stateful access tokens): the token by its id
  await db.schema.createIndex('oauth_token_token_id_idx').unique().on('oauth_token').column('tokenId').execute()
  await db.schema.createIndex('oauth_token_refresh_idx').unique().on('oauth_token').column('currentRefreshToken').execute()
  // a code used twice revokes the token it produced
  await db.schema.createIndex('oauth_token_code_idx').unique().on('oauth_token').column('code').execute()
  // the account page: an account's sessions
  await db.schema.createIndex('oauth_token_did_idx').on('oauth_token').column('did').execute()

  // refresh tokens already rotated away: presenting one again revokes its token (and so the chain)
  await db.schema
    .createTable('oauth_used_refresh_token')
    .addColumn('refreshToken', 'varchar', (col) => col.primaryKey())
    .addColumn('tokenRowId', 'integer', (col) => col.notNull().references('oauth_token.id').onDelete('cascade'))
    .execute()
  await db.schema.createIndex('oauth_used_refresh_token_row_idx').on('oauth_used_refresh_token').column('tokenRowId').execute()

  // permission sets (`include:` scopes) resolved from their lexicons
  await db.schema
    .createTable('oauth_lexicon')
    .addColumn('nsid', 'varchar', (col) => col.primaryKey())
    .addColumn('data', 'varchar', (col) => col.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['oauth_lexicon', 'oauth_used_refresh_token', 'oauth_token', 'oauth_request', 'oauth_authorized_client', 'oauth_account_device', 'oauth_device']) {
    await db.schema.dropTable(t).execute()
  }
}
