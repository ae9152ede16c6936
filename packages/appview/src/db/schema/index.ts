import type { ActorTable } from './actor.ts'
import type { RecordTable } from './record.ts'
import type { FeedItemTable, PostTable } from './post.ts'
import type { BlockTable, FollowTable, LikeTable, RepostTable } from './interaction.ts'
import type { ListItemTable, ListTable, MuteTable } from './graph.ts'
import type { FeedGeneratorTable, GateTable } from './feed-generator.ts'
import type { ProfileTable } from './profile.ts'
import type { ActorAggTable, RecordAggTable } from './aggregate.ts'
import type { NotificationSeenTable, NotificationTable } from './notification.ts'
import type { StreamCursorTable } from './cursor.ts'

export interface AppViewSchema {
  actor: ActorTable
  record: RecordTable
  post: PostTable
  feed_item: FeedItemTable
  like: LikeTable
  repost: RepostTable
  follow: FollowTable
  block: BlockTable
  list: ListTable
  list_item: ListItemTable
  mute: MuteTable
  feed_generator: FeedGeneratorTable
  gate: GateTable
  profile: ProfileTable
  record_agg: RecordAggTable
  actor_agg: ActorAggTable
  notification: NotificationTable
  notification_seen: NotificationSeenTable
  stream_cursor: StreamCursorTable
}
