import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, sortAtFor } from '../plugin.ts'
import { isValidDid } from '@atproto/syntax'
import { deleteSubjectRow, handOverNotification, insertSubjectRow } from './subject.ts'

/** app.bsky.graph.follow: follower/follows counts (once per pair) and a notification to the followed. */
export const followPlugin = definePlugin<app.bsky.graph.follow.Main>({
  collection: 'app.bsky.graph.follow',
  table: 'follow',
  parse(value) {
    const res = app.bsky.graph.follow.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    return res.value
  },
  insert(w, r) {
    const { subject, createdAt } = r.record
    const sortAt = sortAtFor(createdAt, r.indexedAt)
    const { firstOfPair } = insertSubjectRow(w, 'follow', {
      uri: r.uri,
      cid: r.cid,
      creator: r.did,
      subject,
      createdAt,
      json: r.json,
      indexedAt: r.indexedAt,
      sortAt,
    })
    if (!firstOfPair) return
    w.bumpActorAgg(subject, 'followersCount', 1)
    w.bumpActorAgg(r.did, 'followsCount', 1)
    w.notify({ recipient: subject, author: r.did, recordUri: r.uri, recordCid: r.cid, reason: 'follow', reasonSubject: null, sortAt })
  },
  delete(w, uri) {
    const res = deleteSubjectRow(w, 'follow', uri)
    if (!res) return
    const subject = res.row.subject
    handOverNotification(w, res.row, res.remaining, isValidDid(subject) ? { recipient: subject, reason: 'follow', reasonSubject: null } : null)
    if (res.lastOfPair) {
      w.bumpActorAgg(res.row.subject, 'followersCount', -1)
      w.bumpActorAgg(res.row.creator, 'followsCount', -1)
    }
  },
})
