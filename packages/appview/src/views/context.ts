import type { DidString } from '@atproto/syntax'
import type { HydrationState } from '../hydration/state.ts'

export type ImagePreset = 'avatar' | 'banner' | 'feed_thumbnail' | 'feed_fullsize'

/** A URL this app view serves an account's blob at (see image/). */
export type ImageUrl = `${string}:${string}`

/** What every view function reads: the hydrated state and where images are served. */
export type ViewCtx = {
  state: HydrationState
  imageUrl(preset: ImagePreset, did: DidString, cid: string): ImageUrl
}

export const imageUrlBuilder =
  (publicUrl: string) =>
  (preset: ImagePreset, did: DidString, cid: string): ImageUrl =>
    `${publicUrl}/img/${preset}/plain/${did}/${cid}@jpeg` as const
