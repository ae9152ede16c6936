import { sql, type Kysely } from 'kysely'
import type { Migration } from 'kysely/migration'

const m001: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('kv')
      .addColumn('key', 'varchar', (c) => c.primaryKey())
      .addColumn('value', 'varchar', (c) => c.notNull())
      .addColumn('expiresAt', 'integer')
      .execute()
    await db.schema
      .createTable('queue')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('message', 'varchar', (c) => c.notNull())
      .addColumn('runAt', 'integer', (c) => c.notNull())
      .addColumn('lockedUntil', 'integer', (c) => c.notNull().defaultTo(0))
      .execute()
    // the worker takes the oldest due message
    await db.schema.createIndex('queue_run_at_idx').on('queue').columns(['runAt', 'id']).execute()
    await db.schema
      .createTable('bridged_user')
      .addColumn('did', 'varchar', (c) => c.primaryKey())
      .addColumn('handle', 'varchar', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('optInUri', 'varchar')
      .addColumn('publicKeyJwk', 'varchar', (c) => c.notNull())
      .addColumn('privateKeyJwk', 'varchar', (c) => c.notNull())
      .addColumn('createdAt', 'varchar', (c) => c.notNull())
      .execute()
    // WebFinger: the actor by handle
    await db.schema.createIndex('bridged_user_handle_idx').on('bridged_user').column('handle').execute()
    await db.schema
      .createTable('follower')
      .addColumn('did', 'varchar', (c) => c.notNull())
      .addColumn('actorUri', 'varchar', (c) => c.notNull())
      .addColumn('inbox', 'varchar', (c) => c.notNull())
      .addColumn('sharedInbox', 'varchar')
      .addColumn('createdAt', 'varchar', (c) => c.notNull())
      .addPrimaryKeyConstraint('follower_pkey', ['did', 'actorUri'])
      .execute()
    await db.schema
      .createTable('remote_actor')
      .addColumn('uri', 'varchar', (c) => c.primaryKey())
      .addColumn('address', 'varchar', (c) => c.notNull())
      .addColumn('did', 'varchar', (c) => c.notNull())
      .addColumn('handle', 'varchar', (c) => c.notNull())
      .addColumn('password', 'varchar', (c) => c.notNull())
      .addColumn('createdAt', 'varchar', (c) => c.notNull())
      .execute()
    // a record of a mirrored account's repo → its actor
    await db.schema.createIndex('remote_actor_did_idx').unique().on('remote_actor').column('did').execute()
    await db.schema
      .createTable('object_map')
      .addColumn('apId', 'varchar', (c) => c.primaryKey())
      .addColumn('atUri', 'varchar', (c) => c.notNull())
      .addColumn('cid', 'varchar', (c) => c.notNull())
      .addColumn('kind', 'varchar', (c) => c.notNull())
      .addColumn('did', 'varchar', (c) => c.notNull())
      .execute()
    // which object an atproto record is (replies, deletes)
    await db.schema.createIndex('object_map_at_uri_idx').on('object_map').column('atUri').execute()
    await db.schema
      .createTable('following')
      .addColumn('recordUri', 'varchar', (c) => c.primaryKey())
      .addColumn('did', 'varchar', (c) => c.notNull())
      .addColumn('actorUri', 'varchar', (c) => c.notNull())
      .addColumn('activityId', 'varchar', (c) => c.notNull())
      .execute()
    // is a fediverse actor followed by any of our users (their posts are mirrored then)
    await db.schema.createIndex('following_actor_idx').on('following').column('actorUri').execute()
    await db.schema
      .createTable('cursor')
      .addColumn('name', 'varchar', (c) => c.primaryKey())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .execute()
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of ['cursor', 'following', 'object_map', 'remote_actor', 'follower', 'bridged_user', 'queue', 'kv']) await db.schema.dropTable(t).execute()
  },
}

const m002: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // what reached which inbox (an activity is not sent to an inbox twice)
    await db.schema
      .createTable('delivery')
      .addColumn('activityId', 'varchar', (c) => c.notNull())
      .addColumn('inbox', 'varchar', (c) => c.notNull())
      .addColumn('at', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('delivery_pkey', ['activityId', 'inbox'])
      .execute()
    // pruning by age
    await db.schema.createIndex('delivery_at_idx').on('delivery').column('at').execute()
    await db.schema
      .createTable('instance')
      .addColumn('host', 'varchar', (c) => c.primaryKey())
      .addColumn('failingSince', 'integer')
      .addColumn('deadSince', 'integer')
      .addColumn('lastProbe', 'integer')
      .addColumn('lastSuccess', 'integer')
      .execute()
    // one queue per kind of task (inbound activities are not held back by a fan-out); rows in hand are
    // tracked in memory now, so the lease column goes
    await db.schema.alterTable('queue').addColumn('channel', 'varchar', (c) => c.notNull().defaultTo('outbox')).execute()
    await db.schema.alterTable('queue').dropColumn('lockedUntil').execute()
    await sql`UPDATE queue SET channel = json_extract(message, '$.type') WHERE json_extract(message, '$.type') IN ('inbox', 'outbox', 'fanout')`.execute(db)
    await db.schema.dropIndex('queue_run_at_idx').execute()
    await db.schema.createIndex('queue_channel_run_at_idx').on('queue').columns(['channel', 'runAt', 'id']).execute()
    // WebFinger on the user's own handle domain: when that domain was last seen delegating to us, and checked
    await db.schema.alterTable('bridged_user').addColumn('domainVerifiedAt', 'integer').execute()
    await db.schema.alterTable('bridged_user').addColumn('domainCheckedAt', 'integer').execute()
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('queue_channel_run_at_idx').execute()
    await db.schema.alterTable('queue').dropColumn('channel').execute()
    await db.schema.alterTable('queue').addColumn('lockedUntil', 'integer', (c) => c.notNull().defaultTo(0)).execute()
    await db.schema.createIndex('queue_run_at_idx').on('queue').columns(['runAt', 'id']).execute()
    await db.schema.alterTable('bridged_user').dropColumn('domainCheckedAt').execute()
    await db.schema.alterTable('bridged_user').dropColumn('domainVerifiedAt').execute()
    for (const t of ['instance', 'delivery']) await db.schema.dropTable(t).execute()
  },
}

export const migrations: Record<string, Migration> = { '001': m001, '002': m002 }
