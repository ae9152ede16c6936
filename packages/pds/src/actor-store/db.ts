import type { SqliteHandle } from '@atsuite/common'

/**
 * Per-account store schema, versioned with PRAGMA user_version (opening one of
 * thousands of small files must stay cheap, so no migration table).
 * Migrations are append-only. Every store is an SQLite file, and the schema
 * uses SQLite's WITHOUT ROWID where a table is read by its key.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE repo_root (
    did varchar PRIMARY KEY,
    cid varchar NOT NULL,
    rev varchar NOT NULL,
    indexedAt varchar NOT NULL
  );
  CREATE TABLE repo_block (
    cid varchar PRIMARY KEY,
    repoRev varchar NOT NULL,
    size integer NOT NULL,
    content blob NOT NULL
  );
  -- getRepo with since: blocks newer than a rev
  CREATE INDEX repo_block_rev_idx ON repo_block (repoRev, cid);
  CREATE TABLE record (
    uri varchar PRIMARY KEY,
    cid varchar NOT NULL,
    collection varchar NOT NULL,
    rkey varchar NOT NULL,
    repoRev varchar NOT NULL,
    indexedAt varchar NOT NULL
  );
  -- listRecords: one collection ordered by rkey; describeRepo: distinct collections
  CREATE UNIQUE INDEX record_collection_rkey_idx ON record (collection, rkey);
  CREATE TABLE blob (
    cid varchar PRIMARY KEY,
    mimeType varchar NOT NULL,
    size integer NOT NULL,
    tempKey varchar,
    createdAt varchar NOT NULL
  );
  -- temp-blob garbage collection: unreferenced uploads past the grace period
  CREATE INDEX blob_temp_idx ON blob (tempKey, createdAt);
  CREATE TABLE record_blob (
    blobCid varchar NOT NULL,
    recordUri varchar NOT NULL,
    PRIMARY KEY (blobCid, recordUri)
  );
  -- find blobs a deleted/updated record referenced
  CREATE INDEX record_blob_record_idx ON record_blob (recordUri);
  CREATE TABLE account_pref (
    id integer PRIMARY KEY AUTOINCREMENT,
    name varchar NOT NULL,
    valueJson text NOT NULL
  );
  `,
  `
  -- read-after-write: the records written after the rev an app view has indexed
  CREATE INDEX record_rev_idx ON record (repoRev);
  `,
  `
  -- a commit's #commit event, written in the commit's own transaction (body
  -- without seq, DAG-CBOR) with the seq it is expected to get in the
  -- firehose log; rows are pruned by the account's next commit
  CREATE TABLE commit_outbox (
    rev varchar PRIMARY KEY,
    seq integer NOT NULL,
    body blob NOT NULL
  );
  `,
  `
  -- identical records share one block: a commit's removed CIDs may name a block another record
  -- still uses, which must stay (applyCommitBlocks asks)
  CREATE INDEX record_cid_idx ON record (cid);
  `,
  `
  -- the outbox moves into the head's row, which every commit rewrites anyway: a commit's
  -- transaction writes one page for both instead of three (the head's, the outbox table's
  -- and its rev index's). A commit keeps only its own event (the one before it is
  -- sequenced first), so one row holds the whole outbox.
  ALTER TABLE repo_root ADD COLUMN outboxRev varchar;
  ALTER TABLE repo_root ADD COLUMN outboxSeq integer;
  ALTER TABLE repo_root ADD COLUMN outboxBody blob;
  UPDATE repo_root SET (outboxRev, outboxSeq, outboxBody) =
    (SELECT rev, seq, body FROM commit_outbox ORDER BY rev DESC LIMIT 1);
  DROP TABLE commit_outbox;
  `,
  `
  -- the record index keyed by (collection, rkey) in one B-tree (SQLite's WITHOUT ROWID: every
  -- store is SQLite), instead of a rowid table with a unique index on uri and another on
  -- (collection, rkey): a write logs two pages fewer, and reading a record is one search.
  -- uri stays a column (at://<did>/<collection>/<rkey>: the store's DID is fixed, so it is
  -- unique with the key); lookups by uri go through the key (actor-db.ts recordKey).
  CREATE TABLE record_by_key (
    collection varchar NOT NULL,
    rkey varchar NOT NULL,
    uri varchar NOT NULL,
    cid varchar NOT NULL,
    repoRev varchar NOT NULL,
    indexedAt varchar NOT NULL,
    PRIMARY KEY (collection, rkey)
  ) WITHOUT ROWID;
  INSERT INTO record_by_key (collection, rkey, uri, cid, repoRev, indexedAt)
    SELECT collection, rkey, uri, cid, repoRev, indexedAt FROM record;
  DROP TABLE record;
  ALTER TABLE record_by_key RENAME TO record;
  CREATE INDEX record_rev_idx ON record (repoRev);
  CREATE INDEX record_cid_idx ON record (cid);
  `,
  `
  -- a commit's block changes are written after its answer goes out (ActorDb.deferBlocks); its
  -- transaction keeps what they need to be redone after a crash: the outbox event carries every
  -- block the commit adds, and this the CIDs it removes (space-separated)
  ALTER TABLE repo_root ADD COLUMN outboxRemoved text;
  `,
  `
  -- the outbox moves out of the head's row into a ring of one row per commit (the newest, by rev,
  -- is the outbox proper: its event may not be sequenced yet; the ones before it always are).
  -- Block changes are written in batches of several commits (ActorDb.settleIfDue), and until then
  -- each commit's row is what redoes them after a crash: those after blocksN, the row when the
  -- blocks were last all written. Rows are ordered by n, a count of commits (not by rev: an
  -- imported repo's revs may be older than the rows before it). A commit's transaction overwrites
  -- the slot after the newest (ActorDb.OUTBOX_SLOTS of them, one more than a batch), in place: appending rows and
  -- deleting them in batches logged three pages more a commit (a new page, the free list's, the
  -- file header), the ring one more than the head's row did.
  CREATE TABLE outbox (
    slot integer PRIMARY KEY,
    n integer NOT NULL,
    rev varchar NOT NULL,
    seq integer NOT NULL,
    body blob NOT NULL,
    removed text
  );
  ALTER TABLE repo_root ADD COLUMN blocksN integer;
  INSERT INTO outbox (slot, n, rev, seq, body, removed)
    SELECT 0, 1, outboxRev, outboxSeq, outboxBody, outboxRemoved FROM repo_root WHERE outboxRev IS NOT NULL;
  UPDATE repo_root SET outboxRev = NULL, outboxSeq = NULL, outboxBody = NULL, outboxRemoved = NULL;
  `,
  `
  -- a commit's transaction no longer rewrites the head's row: its outbox row names the commit
  -- (cid, with the rev it has) and is the head while it is newer than the last batch of blocks
  -- (n > repo_root.blocksN); each batch moves repo_root up to it (HEAD_SQL, ActorDb.markOutboxDone).
  -- The head's row was a B-tree page of its own that every commit logged. Rows from before carry
  -- no cid: repo_root was written with each of them.
  ALTER TABLE outbox ADD COLUMN cid varchar;
  ALTER TABLE outbox ADD COLUMN indexedAt varchar;
  `,
]

/**
 * The repo's head: the newest outbox row when it is newer than the blocks
 * last written in full (a commit since the last batch; its transaction wrote
 * only that row), otherwise the `repo_root` row. No row: no repo yet.
 */
export const HEAD_SQL = `
  SELECT r.did, coalesce(o.cid, r.cid) AS cid, coalesce(o.rev, r.rev) AS rev, coalesce(o.indexedAt, r.indexedAt) AS indexedAt
  FROM repo_root r
  LEFT JOIN outbox o ON o.n = (SELECT max(n) FROM outbox) AND o.n > coalesce(r.blocksN, 0) AND o.cid IS NOT NULL
  LIMIT 1`

/** A store written by a newer version of this PDS (its schema is past the migrations known here). */
export class NewerActorSchemaError extends Error {}

export const migrateActorDb = (db: SqliteHandle): void => {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > MIGRATIONS.length) {
    // an older build reads such a store wrongly (since schema 9 the head may be in the outbox, and
    // a head read from repo_root alone would be up to a batch of commits old: the next commit
    // would fork the repo), so it refuses it
    throw new NewerActorSchemaError(
      `repo store ${db.name} has schema ${version}, newer than this PDS knows (${MIGRATIONS.length}): it was written by a newer version; run that version or newer`,
    )
  }
  if (version === MIGRATIONS.length) return
  db.transaction(() => {
    for (let i = version; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i])
    db.pragma(`user_version = ${MIGRATIONS.length}`)
  }).immediate()
}

/** The head's row (its outbox columns are unused since schema 8: the `outbox` table holds the outbox). */
export type RepoRootRow = { did: string; cid: string; rev: string; indexedAt: string }
export type RecordRow = {
  uri: string
  cid: string
  collection: string
  rkey: string
  repoRev: string
  indexedAt: string
}
/** `body`: the #commit body as DAG-CBOR, with `seq` the seq it was expected to get (rows from before that carry none). */
export type OutboxRow = { rev: string; seq: number; body: Buffer }
export type BlobRow = {
  cid: string
  mimeType: string
  size: number
  tempKey: string | null
  createdAt: string
}
