import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin } from '../plugin.ts'
import type { IndexWriter } from '../writer.ts'

/** A gate must sit at the rkey of the post it governs, in the same repo. */
const checkGatedPost = (uri: string, post: string, kind: string): void => {
  const gateRkey = uri.slice(uri.lastIndexOf('/') + 1)
  const authority = uri.slice(0, uri.indexOf('/app.bsky.feed.'))
  if (post !== `${authority}/app.bsky.feed.post/${gateRkey}`) {
    throw new RecordRefusal('invalid_record', `${kind} ${uri} does not govern the post at its own rkey`)
  }
}

const putGate = (w: IndexWriter, kind: 'threadgate' | 'postgate', postUri: string, uri: string, cid: string, did: string) => {
  w.run(
    `INSERT INTO gate (postUri, kind, uri, cid, creator) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (postUri, kind) DO UPDATE SET uri = excluded.uri, cid = excluded.cid, creator = excluded.creator`,
    postUri,
    kind,
    uri,
    cid,
    did,
  )
}

/** app.bsky.feed.threadgate: who may reply in a thread; applied when threads are read. */
export const threadgatePlugin = definePlugin<app.bsky.feed.threadgate.Main>({
  collection: 'app.bsky.feed.threadgate',
  parse(value, uri) {
    const res = app.bsky.feed.threadgate.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    checkGatedPost(uri, res.value.post, 'threadgate')
    return res.value
  },
  insert(w, r) {
    putGate(w, 'threadgate', r.record.post, r.uri, r.cid, r.did)
  },
  delete(w, uri) {
    w.run('DELETE FROM gate WHERE uri = ?', uri)
  },
})

/** app.bsky.feed.postgate: detached quotes and embedding rules; applied when embeds are read. */
export const postgatePlugin = definePlugin<app.bsky.feed.postgate.Main>({
  collection: 'app.bsky.feed.postgate',
  parse(value, uri) {
    const res = app.bsky.feed.postgate.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    checkGatedPost(uri, res.value.post, 'postgate')
    return res.value
  },
  insert(w, r) {
    putGate(w, 'postgate', r.record.post, r.uri, r.cid, r.did)
  },
  delete(w, uri) {
    w.run('DELETE FROM gate WHERE uri = ?', uri)
  },
})
