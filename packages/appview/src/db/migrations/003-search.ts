import type { Kysely } from 'kysely'

// Discovery indexes (search itself runs on the FTS5 tables 001 created).

export async function up(db: Kysely<unknown>): Promise<void> {
  // getSuggestions: accounts by follower count, most-followed first
  await db.schema.createIndex('actor_agg_followers_idx').on('actor_agg').columns(['followersCount', 'did']).execute()
}

