/**
 * Post text between the two networks: atproto's plain text with facets
 * (byte ranges of the UTF-8 text marked as mention, link or tag) and the
 * fediverse's HTML (Mastodon's subset: p, br, a with mention/hashtag classes).
 */

export type Facet = {
  index: { byteStart: number; byteEnd: number }
  features: ({ $type: 'app.bsky.richtext.facet#mention'; did: string } | { $type: 'app.bsky.richtext.facet#link'; uri: string } | { $type: 'app.bsky.richtext.facet#tag'; tag: string })[]
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c])

const escapeText = (s: string): string => escapeHtml(s).replace(/\n/g, '<br>')

export type FacetLinks = {
  /** the fediverse actor URL of a mentioned DID, when there is one (a bridged user, a mirrored actor) */
  mention(did: string): string | undefined
  /** where a hashtag links */
  tag(tag: string): string
}

/**
 * Text + facets → HTML paragraphs. Facets that overlap, fall outside the
 * text or split a UTF-8 character are ignored (the text stays); links keep
 * only http(s) targets.
 */
export const textToHtml = (text: string, facets: Facet[] | undefined, links: FacetLinks): string => {
  const bytes = Buffer.from(text, 'utf8')
  const sorted = [...(facets ?? [])]
    .filter((f) => Number.isInteger(f.index?.byteStart) && Number.isInteger(f.index?.byteEnd) && f.index.byteStart < f.index.byteEnd && f.index.byteEnd <= bytes.length)
    .sort((a, b) => a.index.byteStart - b.index.byteStart)
  let out = ''
  let at = 0
  for (const f of sorted) {
    if (f.index.byteStart < at) continue
    const before = bytes.subarray(at, f.index.byteStart).toString('utf8')
    const inner = bytes.subarray(f.index.byteStart, f.index.byteEnd).toString('utf8')
    if (inner.includes('\uFFFD')) continue
    out += escapeText(before)
    const feature = f.features?.[0]
    if (feature?.$type === 'app.bsky.richtext.facet#link' && /^https?:\/\//i.test(feature.uri)) {
      out += `<a href="${escapeHtml(feature.uri)}" rel="nofollow noopener" target="_blank">${escapeText(inner)}</a>`
    } else if (feature?.$type === 'app.bsky.richtext.facet#mention' && links.mention(feature.did)) {
      const href = links.mention(feature.did)!
      const name = inner.startsWith('@') ? inner.slice(1) : inner
      out += `<span class="h-card"><a href="${escapeHtml(href)}" class="u-url mention">@<span>${escapeHtml(name)}</span></a></span>`
    } else if (feature?.$type === 'app.bsky.richtext.facet#tag') {
      out += `<a href="${escapeHtml(links.tag(feature.tag))}" class="mention hashtag" rel="tag">#<span>${escapeHtml(feature.tag)}</span></a>`
    } else {
      out += escapeText(inner)
    }
    at = f.index.byteEnd
  }
  out += escapeText(bytes.subarray(at).toString('utf8'))
  return out
    .split(/(?:<br>){2,}/)
    .map((p) => `<p>${p}</p>`)
    .join('')
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', '#39': "'" }
const decodeEntities = (s: string): string =>
  s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m
    }
    return ENTITIES[e.toLowerCase()] ?? m
  })

export type ParsedHtml = { text: string; facets: Facet[] }

/** What an inbound link becomes: a mention of a DID (our user, a mirrored actor), else a plain link. */
export type LinkResolver = (href: string) => string | undefined

/**
 * Fediverse HTML → plain text + facets: tags dropped (paragraphs and line
 * breaks kept as newlines), entities decoded, links kept as link facets,
 * hashtags as tag facets, and mentions of actors we know as mention facets
 * of their DIDs. Nothing of the HTML survives as markup.
 */
export const htmlToText = (html: string, resolveMention: LinkResolver): ParsedHtml => {
  const facets: Facet[] = []
  let text = ''
  const bytes = () => Buffer.byteLength(text, 'utf8')
  const tokens = html.replace(/\r/g, '').split(/(<[^>]*>)/)
  let link: { href: string; cls: string; start: number; textStart: number } | null = null
  let skipDepth = 0
  for (const tok of tokens) {
    if (!tok.startsWith('<')) {
      if (skipDepth === 0) text += decodeEntities(tok)
      continue
    }
    const m = /^<\s*(\/?)\s*([a-z0-9]+)([^>]*)>$/i.exec(tok)
    if (!m) continue
    const [, closing, rawName, attrs] = m
    const name = rawName.toLowerCase()
    if (name === 'script' || name === 'style') {
      skipDepth += closing ? -1 : 1
      skipDepth = Math.max(0, skipDepth)
      continue
    }
    if (name === 'br') text += '\n'
    else if (name === 'p' && closing) text += '\n\n'
    else if (name === 'a' && !closing) {
      const href = /href\s*=\s*"([^"]*)"|href\s*=\s*'([^']*)'/i.exec(attrs)
      const cls = /class\s*=\s*"([^"]*)"/i.exec(attrs)?.[1] ?? ''
      link = href ? { href: decodeEntities(href[1] ?? href[2]), cls, start: bytes(), textStart: text.length } : null
    } else if (name === 'a' && closing && link) {
      const inner = text.slice(link.textStart)
      const index = { byteStart: link.start, byteEnd: bytes() }
      if (index.byteEnd > index.byteStart) {
        if (/\bhashtag\b/.test(link.cls) || inner.startsWith('#')) {
          facets.push({ index, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: inner.replace(/^#/, '').slice(0, 64) }] })
        } else if (/\bmention\b/.test(link.cls) || inner.startsWith('@')) {
          const did = resolveMention(link.href)
          if (did) facets.push({ index, features: [{ $type: 'app.bsky.richtext.facet#mention', did }] })
        } else if (/^https?:\/\//i.test(link.href)) {
          facets.push({ index, features: [{ $type: 'app.bsky.richtext.facet#link', uri: link.href }] })
        }
      }
      link = null
    }
  }
  // trailing whitespace out, facets kept inside the text
  const trimmed = text.replace(/\s+$/, '')
  const max = Buffer.byteLength(trimmed, 'utf8')
  return { text: trimmed, facets: facets.filter((f) => f.index.byteEnd <= max) }
}

/** At most `graphemes` user-perceived characters (a post's limit is 300), with an ellipsis when cut. */
export const truncateGraphemes = (text: string, graphemes: number): string => {
  const seg = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)]
  if (seg.length <= graphemes) return text
  return `${seg
    .slice(0, graphemes - 1)
    .map((s) => s.segment)
    .join('')}…`
}

/** Link facets for the bare http(s) URLs in plain text (profile descriptions carry no facets). */
export const linkFacets = (text: string): Facet[] => {
  const facets: Facet[] = []
  for (const m of text.matchAll(/https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'}]/gi)) {
    const byteStart = Buffer.byteLength(text.slice(0, m.index), 'utf8')
    facets.push({ index: { byteStart, byteEnd: byteStart + Buffer.byteLength(m[0], 'utf8') }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: m[0] }] })
  }
  return facets
}
