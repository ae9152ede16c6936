import type { AnyPlugin } from '../plugin.ts'
import { blockPlugin } from './block.ts'
import { feedGeneratorPlugin } from './feed-generator.ts'
import { followPlugin } from './follow.ts'
import { postgatePlugin, threadgatePlugin } from './gate.ts'
import { likePlugin } from './like.ts'
import { listItemPlugin } from './list-item.ts'
import { listPlugin } from './list.ts'
import { postPlugin } from './post.ts'
import { profilePlugin } from './profile.ts'
import { repostPlugin } from './repost.ts'

/** Every collection the app view indexes, by NSID. Records of other collections are not stored. */
export const plugins: ReadonlyMap<string, AnyPlugin> = new Map(
  [
    postPlugin,
    likePlugin,
    repostPlugin,
    followPlugin,
    blockPlugin,
    profilePlugin,
    listPlugin,
    listItemPlugin,
    feedGeneratorPlugin,
    threadgatePlugin,
    postgatePlugin,
  ].map((p) => [p.collection, p]),
)
