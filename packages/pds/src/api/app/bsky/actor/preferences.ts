import { app } from '../../../../lexicon/app.ts'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { AuthScope } from '../../../../auth/jwt.ts'

const NAMESPACE = 'app.bsky'
const PERSONAL_DETAILS = app.bsky.actor.defs.personalDetailsPref.$type

/**
 * Preferences are the app view's data kept here: an OAuth app needs the
 * `rpc:` permission for the method at the app view (as the reference asks).
 */
const appViewAud = (ctx: Parameters<Route>[1]): string => `${ctx.cfg.bskyAppView?.did ?? ctx.cfg.service.did}#bsky_appview`

export const getPreferences: Route = (server, ctx) => {
  server.add(app.bsky.actor.getPreferences, {
    auth: ctx.auth.accessStandard({
      allowDeactivated: true,
      oauth: (p) => p.assertRpc({ lxm: 'app.bsky.actor.getPreferences', aud: appViewAud(ctx) }),
    }),
    handler: async ({ auth }) => {
      const { did, scope } = auth.credentials
      const privileged = scope !== AuthScope.AppPass
      const stored = ctx.actorStore
        .read(did, (db) => db.getPreferences())
        .filter((p) => privileged || p.name !== PERSONAL_DETAILS)
        .map((p): unknown => JSON.parse(p.valueJson))
      // stored by putPreferences after the same lexicon's check
      return json({ preferences: app.bsky.actor.defs.preferences.parse(stored) })
    },
  })
}

export const putPreferences: Route = (server, ctx) => {
  server.add(app.bsky.actor.putPreferences, {
    auth: ctx.auth.accessStandard({
      allowDeactivated: true,
      oauth: (p) => p.assertRpc({ lxm: 'app.bsky.actor.putPreferences', aud: appViewAud(ctx) }),
    }),
    handler: async ({ auth, input: { body } }) => {
      const { did, scope } = auth.credentials
      const prefs = body.preferences.map((p) => {
        const t = p.$type
        if (typeof t !== 'string' || !t.startsWith(`${NAMESPACE}.`)) {
          throw new InvalidRequest(`Some preferences are not in the ${NAMESPACE} namespace`)
        }
        if (t === PERSONAL_DETAILS && scope === AuthScope.AppPass) {
          throw new InvalidRequest('Your session cannot update personal details preferences')
        }
        return { name: t, valueJson: JSON.stringify(p) }
      })
      await ctx.actorStore.transact(did, (db) => db.replacePreferences(NAMESPACE, prefs))
    },
  })
}
