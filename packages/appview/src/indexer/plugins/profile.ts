import { getBlobCid } from '@atproto/lex-data'
import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin } from '../plugin.ts'

/** app.bsky.actor.profile (rkey `self`): display name, description, avatar and banner for views and search. */
export const profilePlugin = definePlugin<app.bsky.actor.profile.Main>({
  collection: 'app.bsky.actor.profile',
  parse(value, uri) {
    if (!uri.endsWith('/app.bsky.actor.profile/self')) throw new RecordRefusal('bad_rkey', `profile record must be at rkey self: ${uri}`)
    const res = app.bsky.actor.profile.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    return res.value
  },
  insert(w, r) {
    const p = r.record
    w.run(
      `INSERT INTO profile (did, uri, cid, displayName, description, avatarCid, bannerCid, pinnedPost, createdAt, indexedAt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET uri = excluded.uri, cid = excluded.cid, displayName = excluded.displayName,
         description = excluded.description, avatarCid = excluded.avatarCid, bannerCid = excluded.bannerCid,
         pinnedPost = excluded.pinnedPost, createdAt = excluded.createdAt, indexedAt = excluded.indexedAt`,
      r.did,
      r.uri,
      r.cid,
      p.displayName ?? null,
      p.description ?? null,
      p.avatar ? getBlobCid(p.avatar).toString() : null,
      p.banner ? getBlobCid(p.banner).toString() : null,
      p.pinnedPost?.uri ?? null,
      p.createdAt ?? null,
      r.indexedAt,
    )
    w.indexActorText(r.did)
  },
  delete(w, uri, did) {
    if (w.run('DELETE FROM profile WHERE did = ? AND uri = ?', did, uri) > 0) w.indexActorText(did)
  },
})
