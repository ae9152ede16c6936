import type { app } from '../lexicon/app.ts'
import type { LocalRecords } from './local-records.ts'
import type { LocalViewer } from './local-viewer.ts'
import type { MungeFn } from './pipethrough.ts'

type ProfileViewDetailed = app.bsky.actor.defs.ProfileViewDetailed

/**
 * The user's own profile as their repo has it now: the fields of a profile
 * record they changed since (name, description, avatar, banner, …), and a
 * post count that includes the posts the app view has not indexed yet.
 */
const updated = (viewer: LocalViewer, view: ProfileViewDetailed, local: LocalRecords): ProfileViewDetailed => {
  if (view.did !== viewer.did) return view
  const next = local.profile ? viewer.updateDetailed(view) : view
  return view.postsCount !== undefined && local.posts.length > 0 ? { ...next, postsCount: view.postsCount + local.posts.length } : next
}

export const mungeProfile: MungeFn<app.bsky.actor.getProfile.$OutputBody> = (viewer, body, local) => updated(viewer, body, local)

export const mungeProfiles: MungeFn<app.bsky.actor.getProfiles.$OutputBody> = (viewer, body, local) => ({
  ...body,
  profiles: body.profiles.map((p) => updated(viewer, p, local)),
})
