import type { Kysely } from 'kysely'

// Graph, interaction and notification reads. The (creator, subject) indexes of
// 001 become (creator, subject, sortAt, uri): the same lookups, plus "is this
// the earliest record of its pair" (a duplicate like or follow is listed
// once) as a single index probe.

const PAIR_TABLES = [
  { table: 'follow', old: 'follow_creator_subject_idx' },
  { table: 'like', old: 'like_creator_idx' },
  { table: 'repost', old: 'repost_creator_idx' },
  { table: 'block', old: 'block_creator_idx' },
] as const

export async function up(db: Kysely<unknown>): Promise<void> {
  // getMutes: the viewer's mutes, newest first (keyset on createdAt, subject)
  await db.schema.createIndex('mute_muter_idx').on('mute').columns(['muter', 'createdAt', 'subject']).execute()

  for (const { table, old } of PAIR_TABLES) {
    await db.schema.dropIndex(old).execute()
    // viewer state, duplicate detection, first-of-pair checks (getFollows/ers, getLikes, getRepostedBy, getBlocks, getActorLikes)
    await db.schema.createIndex(`${table}_pair_idx`).on(table).columns(['creator', 'subject', 'sortAt', 'uri']).execute()
  }
}
