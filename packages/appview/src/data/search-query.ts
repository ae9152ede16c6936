/**
 * Users' search strings turned into FTS5 MATCH expressions that cannot be
 * anything but what we build: every term the user typed is a quoted FTS5
 * string (`"` doubled inside), so FTS5's own syntax (column filters `text:`,
 * `NEAR(…)`, `^`, `+`, parentheses, bare AND/OR/NOT) never reaches the
 * engine from user input. What we do honour, as a search box would:
 *
 *   "a phrase"   word*  (prefix)   -word / NOT word   a OR b   (AND is implicit)
 *   from:handle  to:/mentions:handle  lang:xx  since:/until:date  domain:host  #tag
 *
 * Parentheses are ignored (no grouping), as are terms with nothing FTS5
 * would index (punctuation only).
 */

/** Terms beyond this are ignored (a pasted essay is not a query). */
const MAX_TERMS = 32

type Lexeme = { text: string; quoted: boolean; negated: boolean; prefix: boolean }

/** Something unicode61 would index: a letter, a number or a private-use character. */
const TOKEN_CHAR = /[\p{L}\p{N}\p{Co}]/u

const lex = (input: string): Lexeme[] => {
  // control characters (NUL ends an FTS5 query early) are spaces
  const q = input.replace(/\p{Cc}/gu, ' ')
  const out: Lexeme[] = []
  let i = 0
  while (i < q.length) {
    const c = q[i]!
    if (/[\s()]/.test(c)) {
      i++
      continue
    }
    let negated = false
    if (c === '-') {
      negated = true
      i++
    }
    if (q[i] === '"') {
      const end = q.indexOf('"', i + 1)
      const text = q.slice(i + 1, end < 0 ? q.length : end)
      i = end < 0 ? q.length : end + 1
      const prefix = q[i] === '*'
      if (prefix) i++
      out.push({ text, quoted: true, negated, prefix })
      continue
    }
    let j = i
    while (j < q.length && !/[\s()"]/.test(q[j]!)) j++
    const word = q.slice(i, j)
    i = j
    const text = word.replace(/\*+$/, '')
    out.push({ text, quoted: false, negated, prefix: text.length < word.length })
  }
  return out
}

/** An FTS5 string literal: the only form user text takes in a MATCH expression. */
export const ftsString = (text: string): string => `"${text.replaceAll('"', '""')}"`

const ftsTerm = (l: { text: string; prefix: boolean }): string => ftsString(l.text) + (l.prefix ? '*' : '')

export type PostQuery = {
  /** the FTS5 expression; null when the query has no positive term to search for */
  match: string | null
  from?: string
  mentions?: string
  lang?: string
  since?: string
  until?: string
  domain?: string
  tags: string[]
}

const OPERATORS = new Set(['from', 'to', 'mentions', 'lang', 'since', 'until', 'domain'])

/** A search-box query for posts (searchPosts `q`), with the `tag` parameter's tags (AND). */
export const parsePostQuery = (q: string, tags: readonly string[] = []): PostQuery => {
  const out: PostQuery = { match: null, tags: tags.map((t) => t.replace(/^#/, '')).filter((t) => t.length > 0) }
  const groups: { pos: string[]; neg: string[] }[] = [{ pos: [], neg: [] }]
  const tagTerms: string[] = []
  let terms = 0
  let negateNext = false
  for (const l of lex(q)) {
    const group = groups.at(-1)!
    if (!l.quoted && !l.negated && !l.prefix) {
      if (l.text === 'OR' || l.text === '|') {
        if (group.pos.length > 0 || group.neg.length > 0) groups.push({ pos: [], neg: [] })
        continue
      }
      if (l.text === 'AND' || l.text === '&&') continue
      if (l.text === 'NOT') {
        negateNext = true
        continue
      }
      const op = /^([a-z]+):(.+)$/.exec(l.text)
      if (op && OPERATORS.has(op[1]!) && !negateNext) {
        const [, key, value] = op
        if (key === 'from') out.from = value!.replace(/^@/, '')
        else if (key === 'to' || key === 'mentions') out.mentions = value!.replace(/^@/, '')
        else if (key === 'lang') out.lang = value
        else if (key === 'since') out.since = value
        else if (key === 'until') out.until = value
        else if (key === 'domain') out.domain = value
        continue
      }
      if (l.text.startsWith('#') && !negateNext && TOKEN_CHAR.test(l.text.slice(1))) {
        out.tags.push(l.text.slice(1))
        continue
      }
    }
    const negated = l.negated || negateNext
    negateNext = false
    if (!TOKEN_CHAR.test(l.text) || terms >= MAX_TERMS) continue
    terms++
    const text = !l.quoted && l.text.startsWith('#') ? l.text.slice(1) : l.text
    ;(negated ? group.neg : group.pos).push(ftsTerm({ text, prefix: l.prefix }))
  }
  // a tag narrows through the index by its words; the exact tag is checked on the record
  for (const tag of out.tags) if (TOKEN_CHAR.test(tag) && tagTerms.length < MAX_TERMS) tagTerms.push(ftsString(tag))
  // FTS5's NOT is binary: a group with nothing to subtract from cannot be asked for
  const clauses = groups
    .filter((g) => g.pos.length > 0)
    .map((g) => `(${g.pos.join(' AND ')})${g.neg.map((n) => ` NOT ${n}`).join('')}`)
  const parts = [...(clauses.length > 0 ? [`(${clauses.join(' OR ')})`] : []), ...tagTerms]
  out.match = parts.length > 0 ? parts.join(' AND ') : null
  return out
}

/**
 * A query for actors (handle and display name): every term a prefix, all
 * required; a leading `@` is ignored. Null when nothing is searchable.
 */
export const actorMatch = (q: string): string | null => {
  const terms = lex(q.trim())
    .map((l) => l.text.replace(/^@/, ''))
    .filter((t) => TOKEN_CHAR.test(t))
    .slice(0, MAX_TERMS)
  return terms.length > 0 ? terms.map((text) => ftsTerm({ text, prefix: true })).join(' AND ') : null
}
