import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // getTimeline for heavy followers: newest items network-wide, filtered by the viewer's follows
  await db.schema.createIndex('feed_item_sort_idx').on('feed_item').columns(['sortAt', 'uri']).execute()
}
