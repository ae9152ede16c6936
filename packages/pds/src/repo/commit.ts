import { TID } from '@atproto/common'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor, type Cid } from '@atproto/lex-data'
import {
  BlockMap,
  DataDiff,
  MST,
  Repo,
  WriteOpAction,
  signCommit,
  type Commit,
  type CommitData,
  type RecordWriteOp,
  type RepoStorage,
} from '@atproto/repo'
import type { Keypair } from '@atproto/crypto'

/**
 * An account's current head kept in memory between commits: the signed
 * commit and its MST, whose already-decoded nodes make the next commit cheap
 * (no re-reading and re-decoding the path from the root). MSTs are
 * persistent (every change returns a new tree), so a head is never mutated;
 * it is valid exactly while the store's root is `cid`.
 */
export type RepoHead = { cid: Cid; commit: Commit; data: MST }

export const loadHead = async (storage: RepoStorage, cid: Cid): Promise<RepoHead> => {
  const repo = await Repo.load(storage, cid)
  return { cid: repo.cid, commit: repo.commit, data: repo.data }
}

/**
 * Builds the next signed commit from `head` and `writes` with @atproto/repo's
 * MST — the same steps and output as `Repo.formatCommit` (new blocks,
 * relevant blocks with covering proofs for sync v1.1, removed CIDs) — and
 * also returns the new head so the caller can keep it.
 */
export const formatCommit = async (
  head: RepoHead,
  writes: RecordWriteOp[],
  keypair: Keypair,
): Promise<{ commit: CommitData; next: RepoHead }> => {
  const leaves = new BlockMap()
  let data = head.data
  for (const write of writes) {
    const key = `${write.collection}/${write.rkey}`
    if (write.action === WriteOpAction.Create) {
      data = await data.add(key, await leaves.add(write.record))
    } else if (write.action === WriteOpAction.Update) {
      data = await data.update(key, await leaves.add(write.record))
    } else {
      data = await data.delete(key)
    }
  }
  const dataCid = await data.getPointer()
  const diff = await DataDiff.of(data, head.data)
  const newBlocks = diff.newMstBlocks
  const removedCids = diff.removedCids
  const relevantBlocks = new BlockMap()
  for (const write of writes) {
    relevantBlocks.addMap(await data.getCoveringProof(`${write.collection}/${write.rkey}`))
  }
  const addedLeaves = leaves.getMany(diff.newLeafCids.toList())
  if (addedLeaves.missing.length > 0) throw new Error(`Missing leaf blocks: ${addedLeaves.missing}`)
  newBlocks.addMap(addedLeaves.blocks)
  relevantBlocks.addMap(addedLeaves.blocks)

  const rev = TID.nextStr(head.commit.rev)
  const signed = await signCommit({ did: head.commit.did, version: 3, rev, prev: null, data: dataCid }, keypair)
  const commitBytes = cborEncode(signed as never)
  const commitCid = await cidForCbor(commitBytes)
  if (!commitCid.equals(head.cid)) {
    newBlocks.set(commitCid, commitBytes)
    relevantBlocks.set(commitCid, commitBytes)
    removedCids.add(head.cid)
  }
  return {
    commit: { cid: commitCid, rev, since: head.commit.rev, prev: head.cid, newBlocks, relevantBlocks, removedCids },
    next: { cid: commitCid, commit: signed, data },
  }
}
