import { exportJwk, generateCryptoKeyPair } from '@fedify/fedify'
import type { Selectable } from 'kysely'
import type { BridgeDb } from './db/index.ts'
import type { BridgedUserTable, ObjectMapTable } from './db/schema.ts'
import type { Profiles } from './atproto/profiles.ts'
import { parseRecordUri } from './atproto/uri.ts'

export type BridgedUser = Selectable<BridgedUserTable>
export type MappedObject = Selectable<ObjectMapTable>

/** The bridge's own state: who is bridged, who follows them, which object is which record. */
export class BridgeStore {
  private readonly db: BridgeDb
  private readonly profiles: Profiles

  constructor(db: BridgeDb, profiles: Profiles) {
    this.db = db
    this.profiles = profiles
  }

  private get q() {
    return this.db.kysely
  }

  async user(did: string): Promise<BridgedUser | undefined> {
    return this.q.selectFrom('bridged_user').selectAll().where('did', '=', did).executeTakeFirst()
  }

  async enabledUser(did: string): Promise<BridgedUser | undefined> {
    const u = await this.user(did)
    return u?.enabled ? u : undefined
  }

  async enabledUserByHandle(handle: string): Promise<BridgedUser | undefined> {
    return this.q.selectFrom('bridged_user').selectAll().where('handle', '=', handle).where('enabled', '=', 1).executeTakeFirst()
  }

  /** Turns bridging on (a new RSA key pair the first time; the same one after an opt-out and back). */
  async enable(did: string, handle: string, optInUri: string): Promise<void> {
    const existing = await this.user(did)
    if (existing) {
      const domain = existing.handle === handle ? {} : { domainVerifiedAt: null, domainCheckedAt: null }
      await this.q.updateTable('bridged_user').set({ enabled: 1, handle, optInUri, ...domain }).where('did', '=', did).execute()
      return
    }
    const { publicKey, privateKey } = await generateCryptoKeyPair('RSASSA-PKCS1-v1_5')
    await this.q
      .insertInto('bridged_user')
      .values({
        did,
        handle,
        enabled: 1,
        optInUri,
        publicKeyJwk: JSON.stringify(await exportJwk(publicKey)),
        privateKeyJwk: JSON.stringify(await exportJwk(privateKey)),
        createdAt: new Date().toISOString(),
      })
      .execute()
  }

  async disable(did: string): Promise<void> {
    await this.q.updateTable('bridged_user').set({ enabled: 0, optInUri: null }).where('did', '=', did).execute()
  }

  /** A new handle: its domain is not known to delegate WebFinger to us (yet). */
  async setHandle(did: string, handle: string): Promise<void> {
    await this.q.updateTable('bridged_user').set({ handle, domainVerifiedAt: null, domainCheckedAt: null }).where('did', '=', did).execute()
  }

  /** The outcome of checking whether the user's handle domain delegates its WebFinger to us. */
  async setDomainCheck(did: string, handle: string, verified: boolean): Promise<void> {
    const now = Date.now()
    await this.q
      .updateTable('bridged_user')
      .set({ domainCheckedAt: now, domainVerifiedAt: verified ? now : null })
      .where('did', '=', did)
      .where('handle', '=', handle)
      .execute()
  }

  async followers(did: string) {
    return this.q.selectFrom('follower').selectAll().where('did', '=', did).orderBy('createdAt').execute()
  }

  async addFollower(did: string, f: { actorUri: string; inbox: string; sharedInbox: string | null }): Promise<void> {
    await this.q
      .insertInto('follower')
      .values({ did, ...f, createdAt: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['did', 'actorUri']).doUpdateSet({ inbox: f.inbox, sharedInbox: f.sharedInbox }))
      .execute()
  }

  async removeFollower(did: string, actorUri: string): Promise<void> {
    await this.q.deleteFrom('follower').where('did', '=', did).where('actorUri', '=', actorUri).execute()
  }

  async clearFollowers(did: string): Promise<void> {
    await this.q.deleteFrom('follower').where('did', '=', did).execute()
  }

  async map(row: MappedObject): Promise<void> {
    await this.q
      .insertInto('object_map')
      .values(row)
      .onConflict((oc) => oc.column('apId').doUpdateSet({ atUri: row.atUri, cid: row.cid }))
      .execute()
  }

  async unmap(apId: string): Promise<void> {
    await this.q.deleteFrom('object_map').where('apId', '=', apId).execute()
  }

  async mapped(apId: string): Promise<MappedObject | undefined> {
    return this.q.selectFrom('object_map').selectAll().where('apId', '=', apId).executeTakeFirst()
  }

  /** The fediverse object an atproto record came from (a mirrored post). */
  async apIdOf(atUri: string): Promise<MappedObject | undefined> {
    return this.q.selectFrom('object_map').selectAll().where('atUri', '=', atUri).executeTakeFirst()
  }

  /** A mirrored post, as a reply target: the record it became. */
  async mappedPost(apId: string): Promise<{ did: string; rkey: string; uri: string } | undefined> {
    const row = await this.mapped(apId)
    if (!row || row.kind !== 'post') return undefined
    const ref = parseRecordUri(row.atUri)
    return ref && { did: ref.did, rkey: ref.rkey, uri: row.atUri }
  }

  /** The CID of a post (and its thread root when it is a reply), as replies and likes cite it. */
  async strongRef(uri: string): Promise<{ cid: string; root?: { uri: string; cid: string } } | undefined> {
    const ref = parseRecordUri(uri)
    const rec = ref && (await this.profiles.record(ref.did, ref.collection, ref.rkey))
    if (!rec) return undefined
    const root = (rec.value as { reply?: { root?: { uri: string; cid: string } } }).reply?.root
    return { cid: rec.cid, root: root?.uri && root.cid ? { uri: root.uri, cid: root.cid } : undefined }
  }

  /** The DID mirroring a fediverse actor URL (synchronous: used inside HTML parsing). */
  mirroredDidSync(actorUri: string): string | undefined {
    const row = this.db.sqlite.prepare('SELECT did FROM remote_actor WHERE uri = ?').get(actorUri) as { did: string } | undefined
    return row?.did
  }

  /** The fediverse actor a mirror account stands for, if the DID is one. */
  async remoteActorOf(did: string): Promise<{ uri: string; address: string } | undefined> {
    return this.q.selectFrom('remote_actor').select(['uri', 'address']).where('did', '=', did).executeTakeFirst()
  }

  async isFollowedByOurUsers(actorUri: string): Promise<boolean> {
    return (await this.q.selectFrom('following').select('recordUri').where('actorUri', '=', actorUri).executeTakeFirst()) !== undefined
  }

  async addFollowing(row: { recordUri: string; did: string; actorUri: string; activityId: string }): Promise<void> {
    await this.q.insertInto('following').values(row).onConflict((oc) => oc.column('recordUri').doNothing()).execute()
  }

  async takeFollowing(recordUri: string) {
    const row = await this.q.selectFrom('following').selectAll().where('recordUri', '=', recordUri).executeTakeFirst()
    if (row) await this.q.deleteFrom('following').where('recordUri', '=', recordUri).execute()
    return row
  }

  cursor(name: string): number | undefined {
    const row = this.db.sqlite.prepare('SELECT seq FROM cursor WHERE name = ?').get(name) as { seq: number } | undefined
    return row?.seq
  }

  setCursor(name: string, seq: number): void {
    this.db.sqlite.prepare('INSERT INTO cursor (name, seq) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq').run(name, seq)
  }
}
