import type { AppBskyActorPutPreferences } from '@atproto/api'
import { json, type AccessAuth, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'

const NAMESPACE = 'app.bsky'
const PERSONAL_DETAILS = 'app.bsky.actor.defs#personalDetailsPref'

export const getPreferences: Route = (server, ctx) => {
  server.method('app.bsky.actor.getPreferences', {
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth }) => {
      const { did, scope } = (auth as AccessAuth).credentials
      const privileged = scope !== 'com.atproto.appPass'
      const preferences = ctx.actorStore
        .db(did)
        .getPreferences()
        .filter((p) => privileged || p.name !== PERSONAL_DETAILS)
        .map((p) => JSON.parse(p.valueJson))
      return json({ preferences })
    },
  })
}

export const putPreferences: Route = (server, ctx) => {
  server.method('app.bsky.actor.putPreferences', {
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, input }) => {
      const { did, scope } = (auth as AccessAuth).credentials
      const body = input!.body as AppBskyActorPutPreferences.InputSchema
      const prefs = body.preferences.map((p) => {
        const t = (p as { $type?: unknown }).$type
        if (typeof t !== 'string' || !t.startsWith(`${NAMESPACE}.`)) {
          throw new InvalidRequest(`Some preferences are not in the ${NAMESPACE} namespace`)
        }
        if (t === PERSONAL_DETAILS && scope === 'com.atproto.appPass') {
          throw new InvalidRequest('Your session cannot update personal details preferences')
        }
        return { name: t, valueJson: JSON.stringify(p) }
      })
      ctx.actorStore.db(did).replacePreferences(NAMESPACE, prefs)
      return undefined
    },
  })
}

export { json }
