import type { LexValue } from '@atproto/lex-data'
import type { AtUriString } from '@atproto/syntax'
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

type GateRecord = { post: AtUriString }

const gatePlugin = <T extends GateRecord>(
  collection: 'app.bsky.feed.threadgate' | 'app.bsky.feed.postgate',
  kind: 'threadgate' | 'postgate',
  validate: (value: LexValue) => { success: true; value: T } | { success: false; reason: Error },
) =>
  definePlugin<T>({
    collection,
    parse(value, uri) {
      const res = validate(value)
      if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
      checkGatedPost(uri, res.value.post, kind)
      return res.value
    },
    insert(w, r) {
      putGate(w, kind, r.record.post, r.uri, r.cid, r.did)
    },
    delete(w, uri) {
      w.run('DELETE FROM gate WHERE uri = ?', uri)
    },
  })

/** app.bsky.feed.threadgate: who may reply in a thread; applied when threads are read. */
export const threadgatePlugin = gatePlugin<app.bsky.feed.threadgate.Main>('app.bsky.feed.threadgate', 'threadgate', (v) =>
  app.bsky.feed.threadgate.main.safeValidate(v),
)

/** app.bsky.feed.postgate: detached quotes and embedding rules; applied when embeds are read. */
export const postgatePlugin = gatePlugin<app.bsky.feed.postgate.Main>('app.bsky.feed.postgate', 'postgate', (v) =>
  app.bsky.feed.postgate.main.safeValidate(v),
)
