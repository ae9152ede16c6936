import { cborToLexRecord } from '@atproto/repo'
import type { LexMap } from '@atproto/lex-data'
import { isAtUriString, isDatetimeString, type AtUriString, type DatetimeString } from '@atproto/syntax'
import { app } from '../lexicon/app.ts'
import type { ActorReader } from '../actor-store/actor-store.ts'

/** A record as stored (`value`, what views show) and as its lexicon types it (`record`). */
export type LocalRecord<T> = { uri: AtUriString; cid: string; indexedAt: DatetimeString; value: LexMap; record: T }
export type LocalPost = LocalRecord<app.bsky.feed.post.Main>
export type LocalProfile = LocalRecord<app.bsky.actor.profile.Main>

/** What the user wrote after the rev an app view answered at. */
export type LocalRecords = {
  /** their profile, when it changed */
  profile: LocalProfile | null
  /** their new posts, oldest first */
  posts: LocalPost[]
}

const POST = app.bsky.feed.post.$type
const PROFILE = app.bsky.actor.profile.$type
/** Only the newest records are merged: read-after-write covers a short lag, not an outage. */
export const MAX_LOCAL_RECORDS = 50

const none = (): LocalRecords => ({ profile: null, posts: [] })

export const hasLocal = (local: LocalRecords): boolean => local.profile !== null || local.posts.length > 0

/**
 * The user's posts and profile written after `rev` (at most the newest 50),
 * each checked against its lexicon (one that fails is left out: the app view
 * would refuse it too). Nothing when the rev is older than every record and
 * more than 50 follow it: that is an app view that knows the repo from
 * before a migration or import, not a lagging one, and merging would pass
 * off old records as new.
 */
export const localRecordsSince = (db: ActorReader, rev: string): LocalRecords => {
  const rows = db.recordsSinceRev(rev, [POST, PROFILE], MAX_LOCAL_RECORDS + 1)
  if (rows.length === 0) return none()
  if (rows.length > MAX_LOCAL_RECORDS && !db.hasRecordsAtOrBefore(rev)) return none()
  const local = none()
  for (const row of rows.slice(0, MAX_LOCAL_RECORDS).reverse()) {
    const { uri, cid, indexedAt } = row
    if (!isAtUriString(uri) || !isDatetimeString(indexedAt)) continue
    const value = cborToLexRecord(row.content)
    if (row.collection === PROFILE && row.rkey === 'self') {
      const res = app.bsky.actor.profile.$safeValidate(value)
      if (res.success) local.profile = { uri, cid, indexedAt, value, record: res.value }
    } else if (row.collection === POST) {
      const res = app.bsky.feed.post.$safeValidate(value)
      if (res.success) local.posts.push({ uri, cid, indexedAt, value, record: res.value })
    }
  }
  return local
}

/** One of the user's posts as stored, with the rev that last wrote it; null when absent or not a valid post. */
export const localPost = (db: ActorReader, uri: AtUriString): { post: LocalPost; rev: string } | null => {
  const row = db.getRecord(uri)
  const bytes = row ? db.getBlock(row.cid) : undefined
  if (!row || !bytes || row.collection !== POST || !isDatetimeString(row.indexedAt)) return null
  const value = cborToLexRecord(bytes)
  const res = app.bsky.feed.post.$safeValidate(value)
  if (!res.success) return null
  return { post: { uri, cid: row.cid, indexedAt: row.indexedAt, value, record: res.value }, rev: row.repoRev }
}

/** Ms since the oldest record merged: how far behind the app view is (`Atproto-Upstream-Lag`). */
export const upstreamLag = (local: LocalRecords): number | undefined => {
  let oldest: string | undefined = local.profile?.indexedAt
  for (const p of local.posts) if (oldest === undefined || p.indexedAt < oldest) oldest = p.indexedAt
  return oldest === undefined ? undefined : Math.max(0, Date.now() - new Date(oldest).getTime())
}
