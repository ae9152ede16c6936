import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, didOfUri, sortAtFor } from '../plugin.ts'

/** app.bsky.graph.listitem: a member of one of the creator's own lists. */
export const listItemPlugin = definePlugin<app.bsky.graph.listitem.Main>({
  collection: 'app.bsky.graph.listitem',
  table: 'list_item',
  parse(value, uri) {
    const res = app.bsky.graph.listitem.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    if (didOfUri(res.value.list) !== didOfUri(uri)) {
      throw new RecordRefusal('invalid_record', `list item ${uri} names another account's list`)
    }
    return res.value
  },
  insert(w, r) {
    const it = r.record
    w.run(
      `INSERT INTO list_item (uri, cid, creator, listUri, subject, json, createdAt, indexedAt, sortAt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING`,
      r.uri,
      r.cid,
      r.did,
      it.list,
      it.subject,
      r.json,
      it.createdAt,
      r.indexedAt,
      sortAtFor(it.createdAt, r.indexedAt),
    )
  },
  delete(w, uri) {
    w.run('DELETE FROM list_item WHERE uri = ?', uri)
  },
})
