import fs from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import { decode as cborDecode } from '@atproto/lex-cbor'
import { CliError, ExitCode } from '../errors.ts'
import type { Resolver } from '../identity.ts'
import { countBytes, fetchRepo, postImport } from '../transfer.ts'
import { Progress } from '../progress.ts'
import { storedAgent } from '../session.ts'

/** `atp repo export <did|handle> [-o file.car]`: the repo from its PDS (the DID document's, or --pds), streamed to a file. */
export const exportRepo = async (
  identifier: string,
  opts: { out?: string; pds?: string; resolver: Resolver; quiet?: boolean },
): Promise<{ did: string; file: string; bytes: number }> => {
  const did = await opts.resolver.did(identifier, { pds: opts.pds })
  const pds = opts.pds ?? (await opts.resolver.identity(did)).pds
  const res = await fetchRepo(pds, did, `getRepo at ${pds}`)
  const file = opts.out ?? `${did.replace(/:/g, '_')}.car`
  const progress = new Progress('export', Number(res.headers.get('content-length') ?? 0), { bytes: true, quiet: opts.quiet })
  const tmp = `${file}.part`
  const counted = countBytes(Readable.fromWeb(res.body as never), progress)
  await pipeline(counted.stream, fs.createWriteStream(tmp))
  fs.renameSync(tmp, file)
  progress.stop()
  return { did, file, bytes: counted.bytes() }
}

/** `atp repo import <file.car>`: into the logged-in account (e.g. a restore, or a migration done by hand). */
export const importRepo = async (file: string, opts: { quiet?: boolean }): Promise<{ did: string; bytes: number }> => {
  if (!fs.existsSync(file)) throw new CliError(`no such file: ${file}`, { exitCode: ExitCode.usage })
  const agent = await storedAgent()
  const size = fs.statSync(file).size
  const progress = new Progress('import', size, { bytes: true, quiet: opts.quiet })
  try {
    await postImport(agent.serviceUrl.toString(), agent.session!.accessJwt, countBytes(fs.createReadStream(file), progress).stream, 'importRepo')
  } finally {
    progress.stop()
  }
  return { did: agent.session!.did, bytes: size }
}

/** The repo's CAR bytes: a file, or the account's PDS. */
const carOf = async (source: string, opts: { pds?: string; resolver: Resolver }): Promise<Uint8Array> => {
  if (fs.existsSync(source)) return fs.readFileSync(source)
  if (!source.startsWith('did:') && !source.includes('.')) throw new CliError(`no such file, and not a DID or handle: ${source}`, { exitCode: ExitCode.usage })
  const did = await opts.resolver.did(source, { pds: opts.pds })
  const pds = opts.pds ?? (await opts.resolver.identity(did)).pds
  const res = await fetchRepo(pds, did, `getRepo at ${pds}`)
  return new Uint8Array(await res.arrayBuffer())
}

export type VerifyReport = {
  did: string
  handle: string | undefined
  commit: string
  rev: string
  signingKey: string
  records: number
  collections: Record<string, number>
  ok: boolean
  problem?: string
}

/**
 * `atp repo verify <file.car|did|handle>`: the commit's signature against the
 * key in the DID document as it is now, the MST's integrity (every node and
 * record present and hashing to its CID), the record count per collection.
 */
export const verifyRepo = async (source: string, opts: { pds?: string; resolver: Resolver }): Promise<VerifyReport> => {
  const bytes = await carOf(source, opts)
  let root, blocks
  try {
    ;({ root, blocks } = await readCarWithRoot(bytes))
  } catch (err) {
    throw new CliError(`not a repo CAR: ${(err as Error).message}`, { exitCode: ExitCode.verifyFailed })
  }
  const commitBytes = blocks.get(root)
  const commit = commitBytes ? (cborDecode(commitBytes) as { did?: unknown; rev?: unknown }) : undefined
  if (!commit || typeof commit.did !== 'string' || typeof commit.rev !== 'string') {
    throw new CliError("the CAR's root is not a repo commit", { exitCode: ExitCode.verifyFailed })
  }
  const id = await opts.resolver.identity(commit.did)
  const base = { did: commit.did, handle: id.handle, commit: root.toString(), rev: commit.rev, signingKey: id.signingKey }
  try {
    const repo = await verifyRepoCar(bytes, commit.did, id.signingKey)
    const collections: Record<string, number> = {}
    for (const c of repo.creates) collections[c.collection] = (collections[c.collection] ?? 0) + 1
    return { ...base, records: repo.creates.length, collections, ok: true }
  } catch (err) {
    return { ...base, records: 0, collections: {}, ok: false, problem: (err as Error).message }
  }
}

/** `atp repo ls <file.car|did|handle> [--collection c]`: one line per record, `at://… cid`. */
export const listRepo = async (
  source: string,
  opts: { pds?: string; collection?: string; resolver: Resolver; write: (line: string) => Promise<void> | void },
): Promise<number> => {
  const bytes = await carOf(source, opts)
  const { root, blocks } = await readCarWithRoot(bytes)
  const commit = cborDecode(blocks.get(root)!) as { did: string }
  const repo = await verifyRepoCar(bytes, commit.did)
  let n = 0
  for (const c of repo.creates) {
    if (opts.collection && c.collection !== opts.collection) continue
    await opts.write(`at://${commit.did}/${c.collection}/${c.rkey} ${c.cid.toString()}`)
    n++
  }
  return n
}
