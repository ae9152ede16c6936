import type { Generated } from 'kysely'

// The bridge's database (bridge.sqlite): Fedify's key–value store and
// delivery queue, our users who turned bridging on, their fediverse
// followers, the fediverse actors mirrored as atproto accounts, and which
// fediverse object is which atproto record.

export interface KvTable {
  key: string
  value: string
  /** ms since epoch; null: never */
  expiresAt: number | null
}

export interface QueueTable {
  id: Generated<number>
  /** 'inbox' | 'outbox' | 'fanout': each has its own workers */
  channel: string
  message: string
  /** ms since epoch: not before */
  runAt: number
}

export interface BridgedUserTable {
  did: string
  handle: string
  /** 1 while bridging is on (a follow of the bridge's account in the user's repo) */
  enabled: number
  /** that follow record's URI: deleting it turns bridging off */
  optInUri: string | null
  /** the RSA key pair of the actor (JWK JSON), kept across opt-out and back */
  publicKeyJwk: string
  privateKeyJwk: string
  createdAt: string
  /** ms since epoch: the handle's own domain was last found delegating its WebFinger to us (null: not) */
  domainVerifiedAt: number | null
  /** ms since epoch: the last time that was checked */
  domainCheckedAt: number | null
}

export interface FollowerTable {
  did: string
  actorUri: string
  inbox: string
  sharedInbox: string | null
  createdAt: string
}

export interface RemoteActorTable {
  /** the fediverse actor's id */
  uri: string
  /** user@host */
  address: string
  /** the atproto account that mirrors it */
  did: string
  handle: string
  password: string
  createdAt: string
}

export interface ObjectMapTable {
  /** the ActivityPub object or activity id */
  apId: string
  /** the atproto record it is (or became) */
  atUri: string
  cid: string
  /** 'post' | 'like' | 'repost' | 'follow' */
  kind: string
  /** the DID whose repo holds it */
  did: string
}

/** our users' follows of mirrored fediverse actors, sent to those actors as Follow */
export interface FollowingTable {
  /** the follow record */
  recordUri: string
  did: string
  actorUri: string
  /** the Follow activity's id (its Undo names it) */
  activityId: string
}

export interface CursorTable {
  name: string
  seq: number
}

/** an activity delivered to an inbox (kept a while: a resend of it is dropped) */
export interface DeliveryTable {
  activityId: string
  inbox: string
  /** ms since epoch */
  at: number
}

/** a fediverse instance's delivery health (times in ms since epoch) */
export interface InstanceTable {
  host: string
  /** first failed delivery since the last success */
  failingSince: number | null
  /** a delivery to it gave up: deliveries are dropped, but for a probe now and then */
  deadSince: number | null
  lastProbe: number | null
  lastSuccess: number | null
}

export interface BridgeDbSchema {
  delivery: DeliveryTable
  instance: InstanceTable
  kv: KvTable
  queue: QueueTable
  bridged_user: BridgedUserTable
  follower: FollowerTable
  remote_actor: RemoteActorTable
  object_map: ObjectMapTable
  following: FollowingTable
  cursor: CursorTable
}
