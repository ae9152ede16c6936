import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { accountEvent } from '../../../../sequencer/events.ts'

const { repoRef } = com.atproto.admin.defs

/** Admin takedown of an account: sessions refused, repo reads refused, #account on the firehose. */
export const updateSubjectStatus: Route = (server, ctx) => {
  server.add(com.atproto.admin.updateSubjectStatus, {
    auth: ctx.auth.admin,
    handler: async ({ input: { body } }) => {
      const { subject, takedown } = body
      if (!repoRef.isTypeOf(subject)) throw new InvalidRequest('Only account (repoRef) subjects are supported')
      const { did } = subject
      const acc = await ctx.accounts.getAccount(did)
      if (!acc) throw new InvalidRequest(`Account not found: ${did}`, 'AccountNotFound')
      if (takedown) {
        const ref = takedown.applied ? (takedown.ref ?? new Date().toISOString()) : null
        await ctx.accounts.setTakedown(did, ref)
        if (ref) ctx.announce(accountEvent(did, false, 'takendown'))
        else if (acc.deactivatedAt) ctx.announce(accountEvent(did, false, 'deactivated'))
        else ctx.announceActivation(did)
      }
      return json({ subject, takedown })
    },
  })
}

export const getSubjectStatus: Route = (server, ctx) => {
  server.add(com.atproto.admin.getSubjectStatus, {
    auth: ctx.auth.admin,
    handler: async ({ params: p }) => {
      if (!p.did) throw new InvalidRequest('Only account subjects (did) are supported')
      const acc = await ctx.accounts.getAccount(p.did)
      if (!acc) throw new InvalidRequest(`Account not found: ${p.did}`, 'NotFound')
      return json({
        subject: repoRef.build({ did: acc.did }),
        takedown: { applied: acc.takedownRef !== null, ref: acc.takedownRef ?? undefined },
      })
    },
  })
}
