import { getBlobCid } from '@atproto/lex-data'
import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, sortAtFor } from '../plugin.ts'

/** app.bsky.graph.list: curation and moderation lists (getList, getLists), the creator's list count. */
export const listPlugin = definePlugin<app.bsky.graph.list.Main>({
  collection: 'app.bsky.graph.list',
  parse(value) {
    const res = app.bsky.graph.list.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    return res.value
  },
  insert(w, r) {
    const l = r.record
    const inserted = w.run(
      `INSERT INTO list (uri, cid, creator, name, purpose, description, avatarCid, createdAt, indexedAt, sortAt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING`,
      r.uri,
      r.cid,
      r.did,
      l.name,
      l.purpose,
      l.description ?? null,
      l.avatar ? getBlobCid(l.avatar).toString() : null,
      l.createdAt,
      r.indexedAt,
      sortAtFor(l.createdAt, r.indexedAt),
    )
    if (inserted) w.bumpActorAgg(r.did, 'listsCount', 1)
  },
  delete(w, uri, did) {
    if (w.run('DELETE FROM list WHERE uri = ?', uri) > 0) w.bumpActorAgg(did, 'listsCount', -1)
  },
})
