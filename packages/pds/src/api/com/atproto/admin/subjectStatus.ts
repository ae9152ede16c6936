import type { ComAtprotoAdminGetSubjectStatus, ComAtprotoAdminUpdateSubjectStatus } from '@atproto/api'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { accountEvent } from '../../../../sequencer/events.ts'

const REPO_REF = 'com.atproto.admin.defs#repoRef'

const repoSubject = (subject: { $type?: string; did?: string }): string => {
  if (subject.$type !== REPO_REF || !subject.did) {
    throw new InvalidRequest('Only account (repoRef) subjects are supported')
  }
  return subject.did
}

/** Admin takedown of an account: sessions refused, repo reads refused, #account on the firehose. */
export const updateSubjectStatus: Route = (server, ctx) => {
  server.method('com.atproto.admin.updateSubjectStatus', {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      const body = input!.body as ComAtprotoAdminUpdateSubjectStatus.InputSchema
      const did = repoSubject(body.subject as { $type?: string; did?: string })
      const acc = await ctx.accounts.getAccount(did)
      if (!acc) throw new InvalidRequest(`Account not found: ${did}`, 'AccountNotFound')
      if (body.takedown) {
        const ref = body.takedown.applied ? (body.takedown.ref ?? new Date().toISOString()) : null
        await ctx.accounts.setTakedown(did, ref)
        if (ref) ctx.announce(accountEvent(did, false, 'takendown'))
        else if (acc.deactivatedAt) ctx.announce(accountEvent(did, false, 'deactivated'))
        else ctx.announceActivation(did)
      }
      return json({ subject: body.subject, takedown: body.takedown })
    },
  })
}

export const getSubjectStatus: Route = (server, ctx) => {
  server.method('com.atproto.admin.getSubjectStatus', {
    auth: ctx.auth.admin,
    handler: async ({ params }) => {
      const p = params as ComAtprotoAdminGetSubjectStatus.QueryParams
      if (!p.did) throw new InvalidRequest('Only account subjects (did) are supported')
      const acc = await ctx.accounts.getAccount(p.did)
      if (!acc) throw new InvalidRequest(`Account not found: ${p.did}`, 'NotFound')
      return json({
        subject: { $type: REPO_REF, did: acc.did },
        takedown: { applied: acc.takedownRef !== null, ref: acc.takedownRef ?? undefined },
      })
    },
  })
}
