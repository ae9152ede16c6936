import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, sortAtFor } from '../plugin.ts'
import { deleteSubjectRow, insertSubjectRow } from './subject.ts'

/** app.bsky.graph.block: read at hydration time (content hidden both ways); no counts, no notification. */
export const blockPlugin = definePlugin<app.bsky.graph.block.Main>({
  collection: 'app.bsky.graph.block',
  table: 'block',
  parse(value) {
    const res = app.bsky.graph.block.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    return res.value
  },
  insert(w, r) {
    const { subject, createdAt } = r.record
    insertSubjectRow(w, 'block', {
      uri: r.uri,
      cid: r.cid,
      creator: r.did,
      subject,
      createdAt,
      json: r.json,
      indexedAt: r.indexedAt,
      sortAt: sortAtFor(createdAt, r.indexedAt),
    })
  },
  delete(w, uri) {
    deleteSubjectRow(w, 'block', uri)
  },
})
