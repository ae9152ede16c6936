import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, didOfUri, sortAtFor } from '../plugin.ts'
import type { IndexWriter } from '../writer.ts'
import { isAtUriString } from '@atproto/syntax'
import { deleteSubjectRow, handOverNotification, insertSubjectRow, type SubjectRow } from './subject.ts'

const addFeedItem = (w: IndexWriter, row: SubjectRow): void => {
  w.run(
    'INSERT INTO feed_item (uri, postUri, originator, type, isReply, sortAt) VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (uri) DO NOTHING',
    row.uri,
    row.subject,
    row.creator,
    'repost',
    row.sortAt,
  )
}

/**
 * app.bsky.feed.repost: a feed item in the reposter's feeds, the subject's
 * repost count and a notification — once per reposter and subject; when the
 * counted repost is deleted while a duplicate remains, the duplicate takes
 * its place in feeds.
 */
export const repostPlugin = definePlugin<app.bsky.feed.repost.Main>({
  collection: 'app.bsky.feed.repost',
  table: 'repost',
  parse(value) {
    const res = app.bsky.feed.repost.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    return res.value
  },
  insert(w, r) {
    const { subject, createdAt } = r.record
    const sortAt = sortAtFor(createdAt, r.indexedAt)
    const row = { uri: r.uri, cid: r.cid, creator: r.did, subject: subject.uri, sortAt }
    const { firstOfPair, pairKey: subjectId } = insertSubjectRow(w, 'repost', { ...row, subjectCid: subject.cid, json: r.json, createdAt, indexedAt: r.indexedAt })
    if (!firstOfPair) return
    addFeedItem(w, row)
    w.bumpRecordAgg(subjectId, 'repostCount', 1)
    const author = didOfUri(subject.uri)
    if (author) {
      w.notify({ recipient: author, author: r.did, recordUri: r.uri, recordCid: r.cid, reason: 'repost', reasonSubject: subject.uri, sortAt })
    }
  },
  delete(w, uri) {
    const res = deleteSubjectRow(w, 'repost', uri)
    if (!res) return
    const author = didOfUri(res.row.subject)
    const subject = res.row.subject
    handOverNotification(w, res.row, res.remaining, author && isAtUriString(subject) ? { recipient: author, reason: 'repost', reasonSubject: subject } : null)
    const hadFeedItem = w.run('DELETE FROM feed_item WHERE uri = ?', uri) > 0
    if (res.lastOfPair) w.bumpRecordAgg(res.row.subject, 'repostCount', -1)
    else if (hadFeedItem && res.remaining) addFeedItem(w, res.remaining)
  },
})
