import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, didOfUri, sortAtFor } from '../plugin.ts'
import { isAtUriString } from '@atproto/syntax'
import { deleteSubjectRow, handOverNotification, insertSubjectRow, isLikeable } from './subject.ts'

/** app.bsky.feed.like: the subject's like count (once per liker) and a notification to its author. */
export const likePlugin = definePlugin<app.bsky.feed.like.Main>({
  collection: 'app.bsky.feed.like',
  table: 'like',
  parse(value) {
    const res = app.bsky.feed.like.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    return res.value
  },
  insert(w, r) {
    const { subject, createdAt } = r.record
    const sortAt = sortAtFor(createdAt, r.indexedAt)
    const { firstOfPair, pairKey: subjectId } = insertSubjectRow(w, 'like', {
      uri: r.uri,
      cid: r.cid,
      creator: r.did,
      subject: subject.uri,
      subjectCid: subject.cid,
      createdAt,
      json: r.json,
      indexedAt: r.indexedAt,
      sortAt,
    })
    if (!firstOfPair) return
    w.bumpRecordAgg(subjectId, 'likeCount', 1)
    const author = didOfUri(subject.uri)
    if (author && isLikeable(subject.uri)) {
      w.notify({ recipient: author, author: r.did, recordUri: r.uri, recordCid: r.cid, reason: 'like', reasonSubject: subject.uri, sortAt })
    }
  },
  delete(w, uri) {
    const res = deleteSubjectRow(w, 'like', uri)
    if (!res) return
    const author = didOfUri(res.row.subject)
    const subject = res.row.subject
    handOverNotification(w, res.row, res.remaining, author && isAtUriString(subject) ? { recipient: author, reason: 'like', reasonSubject: subject } : null)
    if (res.lastOfPair) w.bumpRecordAgg(res.row.subject, 'likeCount', -1)
  },
})
