/**
 * Search on the whole network: posts written through AtpAgent are found by
 * searchPosts (FTS5 over text and tags) with the lexicon's filters, deleted
 * ones are not; FTS syntax typed by users is searched for, never executed;
 * actors are found by handle and display name (typeahead by prefix); every
 * list pages to each item exactly once; blocks hide both ways and
 * deactivated accounts vanish. The queries use the FTS indexes.
 */
import { RichText } from '@atproto/api'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { searchActorsQuery, searchPostsQuery } from '../packages/appview/src/data/search.ts'
import { parsePostQuery } from '../packages/appview/src/data/search-query.ts'
import { appviewGet } from './_appview.ts'

let net: TestNetwork
let alice: TestUser
let bob: TestUser
let carol: TestUser
let dave: TestUser
let eve: TestUser
const posts: Record<string, string> = {}
const pager: string[] = []

const uris = (body: any): string[] => body.posts.map((p: any) => p.uri)

const search = (user: TestUser | null, q: string, params: Record<string, string | number | string[]> = {}) =>
  appviewGet(net, user, 'app.bsky.feed.searchPosts', { q, ...params })

/** Follows `cursor` with `limit` until the list ends; every item seen, in order. */
const pageAll = async (fetchPage: (cursor?: string) => Promise<{ items: string[]; cursor?: string }>): Promise<string[]> => {
  const seen: string[] = []
  let cursor: string | undefined
  for (let i = 0; i < 50; i++) {
    const page = await fetchPage(cursor)
    seen.push(...page.items)
    cursor = page.cursor
    if (!cursor) return seen
  }
  throw new Error('pagination did not end')
}

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  ;[alice, bob, carol, dave, eve] = await Promise.all(['alice', 'bob', 'carol', 'dave', 'eve'].map((n) => net.createUser(n)))
  await alice.agent.upsertProfile(() => ({ displayName: 'Alice Wonderland' }))
  await carol.agent.upsertProfile(() => ({ displayName: 'Carolina Reaper' }))
  await eve.agent.upsertProfile(() => ({ displayName: 'Eve Sdropper' }))

  posts.quick = (await alice.agent.post({ text: 'The quick brown fox jumps', langs: ['en'] })).uri
  posts.turtle = (await alice.agent.post({ text: 'slow green turtle', langs: ['en-GB'] })).uri
  const rt = new RichText({ text: 'fox and hound #wildlife with @alice.test at https://www.example.com/page' })
  await rt.detectFacets(bob.agent)
  posts.hound = (await bob.agent.post({ text: rt.text, facets: rt.facets, tags: ['Nature'], langs: ['fr'] })).uri
  posts.cafe = (await carol.agent.post({ text: 'Café crème at the fox & hound pub' })).uri
  posts.snow = (await eve.agent.post({ text: 'a fox in the snow' })).uri
  const gone = await bob.agent.post({ text: 'an ephemeral unicorn' })
  await bob.agent.deletePost(gone.uri)
  for (let i = 0; i < 7; i++) pager.push((await dave.agent.post({ text: `pager item ${i}` })).uri)
  // engagement for sort=top
  const third = await dave.agent.app.bsky.feed.post.get({ repo: dave.did, rkey: pager[3]!.split('/').pop()! })
  for (const u of [alice, bob, carol]) await u.agent.like(pager[3]!, third.cid)
  await bob.agent.like(pager[5]!, (await dave.agent.app.bsky.feed.post.get({ repo: dave.did, rkey: pager[5]!.split('/').pop()! })).cid)

  await bob.agent.follow(alice.did)
  await carol.agent.follow(alice.did)
  await dave.agent.follow(alice.did)
  await dave.agent.follow(carol.did)
  await bob.agent.app.bsky.graph.block.create({ repo: bob.did }, { subject: eve.did, createdAt: new Date().toISOString() })
  await net.processAll()
})

afterAll(async () => {
  await net?.close()
})

test('searchPosts finds what was posted (text, tags, diacritics) and not what was deleted', async () => {
  const fox = await search(alice, 'fox')
  expect(fox.status).toBe(200)
  expect(uris(fox.body).sort()).toEqual([posts.quick, posts.hound, posts.cafe, posts.snow].sort())
  expect(fox.body.hitsTotal).toBe(4)
  // newest first
  expect(uris(fox.body)[0]).toBe(posts.snow)
  expect(fox.body.posts[0]).toMatchObject({ author: { handle: 'eve.test' }, record: { text: 'a fox in the snow' } })

  expect(uris((await search(null, 'cafe creme')).body)).toEqual([posts.cafe])
  expect(uris((await search(null, 'nature')).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'unicorn')).body)).toEqual([])
  expect(uris((await search(null, 'ephemeral')).body)).toEqual([])
})

test('FTS operators in q are handled safely: phrases, prefixes, exclusion and OR work; the rest is text, never a 500', async () => {
  expect(uris((await search(null, '"quick brown"')).body)).toEqual([posts.quick])
  expect(uris((await search(null, '"brown quick"')).body)).toEqual([])
  expect(uris((await search(null, 'qui*')).body)).toEqual([posts.quick])
  expect(uris((await search(null, 'fox -hound')).body).sort()).toEqual([posts.quick, posts.snow].sort())
  expect(uris((await search(null, 'fox NOT hound')).body).sort()).toEqual([posts.quick, posts.snow].sort())
  expect(uris((await search(null, 'turtle OR crème')).body).sort()).toEqual([posts.turtle, posts.cafe].sort())
  expect(uris((await search(null, '(turtle OR unicorn)')).body)).toEqual([posts.turtle])
  // FTS5 syntax is searched for as words: a column filter, NEAR, ^, +, braces
  expect(uris((await search(null, 'text:turtle')).body)).toEqual([])
  expect(uris((await search(null, 'NEAR(fox hound)')).body)).toEqual([])
  const nasty = [
    '"', '""', '"unterminated fox', '*', '**', 'fox*)', '(fox', 'fox)', ')(', 'AND', 'OR fox', 'fox OR', 'NOT fox', 'fox NOT',
    '^fox', '+fox', '{text}:fox', 'text:', ':', 'fox:hound', 'NEAR', 'NEAR(', 'NEAR(fox, 2)', "'", "fox' OR 1=1 --", '\\', '%', '_',
    'fox AND AND hound', '-', '--fox', '- fox', 'fox -', '#', '##', '#fox', '"fox" * "hound"', 'f"o"x', '\u0000fox', 'from:', 'lang:',
    'since:not-a-date', 'domain:', 'ü', '🦊', '狐', 'x'.repeat(1000),
  ]
  for (const q of nasty) {
    const res = await search(bob, q)
    expect({ q, status: res.status }).toEqual({ q, status: res.status === 400 ? 400 : 200 })
    if (res.status === 400) expect({ q, error: res.body.error }).toEqual({ q, error: 'BadQueryString' })
  }
  expect((await search(null, '#fox')).status).toBe(200)
  expect(uris((await search(null, '(fox')).body)).toHaveLength(4)
})

test('searchPosts: empty or searchless q is 400 BadQueryString; bad params are 400s', async () => {
  for (const q of ['', '   ', '-fox', '*', '"', 'OR', '()', 'from:alice.test']) {
    const res = await search(null, q)
    expect({ q, status: res.status, error: res.body.error }).toEqual({ q, status: 400, error: 'BadQueryString' })
  }
  const noQ = await appviewGet(net, null, 'app.bsky.feed.searchPosts')
  expect(noQ).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
  expect((await search(null, 'fox', { limit: 0 })).status).toBe(400)
  expect((await search(null, 'fox', { limit: 101 })).status).toBe(400)
  expect((await search(null, 'fox', { sort: 'sideways' })).status).toBe(400)
  expect((await search(null, 'fox', { since: 'yesterday-ish' })).body.error).toBe('BadQueryString')
  expect((await search(null, 'fox', { cursor: 'garbage' })).status).toBe(400)
  expect((await search(null, 'fox', { sort: 'top', cursor: 'garbage' })).status).toBe(400)
  expect((await search(null, 'x'.repeat(1001))).body.error).toBe('BadQueryString')
})

test('searchPosts filters: author, mentions, lang, since/until, tag, domain and url, in params and in q', async () => {
  expect(uris((await search(null, 'fox', { author: 'alice.test' })).body)).toEqual([posts.quick])
  expect(uris((await search(null, 'fox from:alice.test')).body)).toEqual([posts.quick])
  expect(uris((await search(alice, 'fox from:me')).body)).toEqual([posts.quick])
  expect(uris((await search(null, 'fox', { author: 'nobody.test' })).body)).toEqual([])
  expect(uris((await search(null, 'fox', { mentions: alice.did })).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'fox to:alice.test')).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'fox', { lang: 'en' })).body)).toEqual([posts.quick])
  // `en` covers `en-GB`
  expect(uris((await search(null, 'turtle OR fox', { lang: 'en' })).body).sort()).toEqual([posts.quick, posts.turtle].sort())
  expect(uris((await search(null, 'fox lang:fr')).body)).toEqual([posts.hound])
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
  expect(uris((await search(null, 'fox', { since: tomorrow })).body)).toEqual([])
  expect(uris((await search(null, 'fox', { until: tomorrow })).body)).toHaveLength(4)
  expect(uris((await search(null, `fox until:${tomorrow}`)).body)).toHaveLength(4)
  expect(uris((await search(null, 'fox', { until: '2000-01-01T00:00:00Z' })).body)).toEqual([])
  // tags: the facet tag and the record's tags field, case-insensitively; not mere words
  expect(uris((await search(null, 'fox', { tag: ['wildlife'] })).body)).toEqual([posts.hound])
  expect(uris((await search(null, '#wildlife')).body)).toEqual([posts.hound])
  expect(uris((await search(null, '#nature')).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'hound', { tag: ['wildlife', 'Nature'] })).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'hound', { tag: ['pub'] })).body)).toEqual([])
  expect(uris((await search(null, '#fox')).body)).toEqual([])
  // links: facet link to https://www.example.com/page
  expect(uris((await search(null, 'fox', { domain: 'example.com' })).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'fox domain:www.example.com')).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'fox', { domain: 'ample.com' })).body)).toEqual([])
  expect(uris((await search(null, 'fox', { url: 'https://www.example.com/page' })).body)).toEqual([posts.hound])
  expect(uris((await search(null, 'fox', { url: 'https://www.example.com/other' })).body)).toEqual([])
})

test('searchPosts pages latest and top with small limits: every hit exactly once', async () => {
  for (const sort of ['latest', 'top']) {
    const seen = await pageAll(async (cursor) => {
      const res = await search(null, 'pager', { sort, limit: 2, ...(cursor ? { cursor } : {}) })
      expect(res.status).toBe(200)
      expect(res.body.hitsTotal).toBe(7)
      return { items: uris(res.body), cursor: res.body.cursor }
    })
    expect({ sort, n: seen.length }).toEqual({ sort, n: 7 })
    expect(new Set(seen)).toEqual(new Set(pager))
    if (sort === 'latest') expect(seen).toEqual([...pager].reverse())
    if (sort === 'top') expect(seen.slice(0, 2)).toEqual([pager[3], pager[5]])
  }
})

test('blocks hide posts and actors both ways', async () => {
  // bob blocked eve: neither sees the other's posts or profile in search
  expect(uris((await search(bob, 'fox')).body)).not.toContain(posts.snow)
  // the page is refilled past what the block dropped
  const page = await search(bob, 'fox', { limit: 3 })
  expect(uris(page.body)).toEqual([posts.cafe, posts.hound, posts.quick])
  expect(uris((await search(eve, 'fox')).body)).not.toContain(posts.hound)
  expect(uris((await search(eve, 'fox')).body)).toContain(posts.snow)
  const eveFromBob = await appviewGet(net, bob, 'app.bsky.actor.searchActorsTypeahead', { q: 'eve' })
  expect(eveFromBob.body.actors).toEqual([])
  const bobFromEve = await appviewGet(net, eve, 'app.bsky.actor.searchActors', { q: 'bob' })
  expect(bobFromEve.body.actors).toEqual([])
  const eveFromAlice = await appviewGet(net, alice, 'app.bsky.actor.searchActorsTypeahead', { q: 'eve' })
  expect(eveFromAlice.body.actors.map((a: any) => a.did)).toEqual([eve.did])
})

test('searchActorsTypeahead by prefix of handle and display name; searchActors by q or term, paging once each', async () => {
  const typeahead = async (q: string) => (await appviewGet(net, null, 'app.bsky.actor.searchActorsTypeahead', { q })).body.actors.map((a: any) => a.did)
  expect(await typeahead('ali')).toEqual([alice.did])
  expect(await typeahead('a')).toContain(alice.did)
  expect(await typeahead('@car')).toEqual([carol.did])
  expect(await typeahead('wonder')).toEqual([alice.did])
  expect(await typeahead('carolina rea')).toEqual([carol.did])
  expect(await typeahead('alice.te')).toEqual([alice.did])
  expect(await typeahead('zzz')).toEqual([])
  for (const q of ['', '"', '*', '(', 'NEAR(', 'handle:ali', '-']) {
    const res = await appviewGet(net, null, 'app.bsky.actor.searchActorsTypeahead', { q })
    expect({ q, status: res.status }).toEqual({ q, status: 200 })
  }
  const viaTerm = await appviewGet(net, null, 'app.bsky.actor.searchActorsTypeahead', { term: 'Reaper' })
  expect(viaTerm.body.actors[0]).toMatchObject({ did: carol.did, handle: 'carol.test', displayName: 'Carolina Reaper' })

  const full = await appviewGet(net, bob, 'app.bsky.actor.searchActors', { q: 'Alice' })
  expect(full.status).toBe(200)
  expect(full.body.actors[0]).toMatchObject({ did: alice.did, displayName: 'Alice Wonderland' })
  expect(full.body.actors[0].viewer.following).toMatch(/^at:\/\//)
  // every account is on `test`: page through them one at a time
  const all = await pageAll(async (cursor) => {
    const res = await appviewGet(net, null, 'app.bsky.actor.searchActors', { term: 'test', limit: 1, ...(cursor ? { cursor } : {}) })
    return { items: res.body.actors.map((a: any) => a.did), cursor: res.body.cursor }
  })
  expect(all.sort()).toEqual([alice, bob, carol, dave, eve].map((u) => u.did).sort())
  expect((await appviewGet(net, null, 'app.bsky.actor.searchActors', { q: 'test', cursor: 'x' })).status).toBe(400)
})

test('getSuggestions: most-followed first, never the viewer, their follows, or blocked accounts; pages once each', async () => {
  const forBob = await pageAll(async (cursor) => {
    const res = await appviewGet(net, bob, 'app.bsky.actor.getSuggestions', { limit: 1, ...(cursor ? { cursor } : {}) })
    expect(res.status).toBe(200)
    return { items: res.body.actors.map((a: any) => a.did), cursor: res.body.cursor }
  })
  // bob follows alice and blocked eve
  expect(forBob.sort()).toEqual([carol.did, dave.did].sort())
  const anon = await appviewGet(net, null, 'app.bsky.actor.getSuggestions', { limit: 2 })
  // alice has three followers, carol one
  expect(anon.body.actors.map((a: any) => a.did)).toEqual([alice.did, carol.did])
  expect((await appviewGet(net, null, 'app.bsky.actor.getSuggestions', { cursor: 'nope' })).status).toBe(400)
})

test('searchPosts and typeahead run on the FTS indexes', async () => {
  const db = net.appview.ctx.db
  const plan = (c: { sql: string; parameters: readonly unknown[] }) =>
    db.sqlite
      .prepare(`EXPLAIN QUERY PLAN ${c.sql}`)
      .all(...c.parameters)
      .map((r: any) => r.detail as string)
  const match = parsePostQuery('fox -hound').match!
  for (const sort of ['latest', 'top'] as const) {
    const p = plan(searchPostsQuery(db, { match, sort, tags: [] }, 25, undefined).compile())
    expect(p.some((d) => /SCAN post_fts VIRTUAL TABLE INDEX \d+:M/.test(d))).toBe(true)
    expect(p.some((d) => /SEARCH post USING INTEGER PRIMARY KEY \(rowid=\?\)/.test(d))).toBe(true)
  }
  const a = plan(searchActorsQuery(db, '"ali"*', 10, 0).compile())
  expect(a.some((d) => /SCAN actor_fts VIRTUAL TABLE INDEX \d+:M/.test(d))).toBe(true)
  expect(a.some((d) => /SEARCH actor USING INTEGER PRIMARY KEY \(rowid=\?\)/.test(d))).toBe(true)
})

test('a deactivated account is gone from search, typeahead and suggestions', async () => {
  await dave.agent.com.atproto.server.deactivateAccount({})
  await net.processAll()
  expect((await search(null, 'pager')).body.posts).toEqual([])
  expect((await appviewGet(net, null, 'app.bsky.actor.searchActorsTypeahead', { q: 'dave' })).body.actors).toEqual([])
  const sugg = await appviewGet(net, null, 'app.bsky.actor.getSuggestions')
  expect(sugg.body.actors.map((a: any) => a.did)).not.toContain(dave.did)
})
