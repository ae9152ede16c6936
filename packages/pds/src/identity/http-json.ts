// (getBuiltinModule: an ESM import of node:http loads undici; see @atsuite/common's http.ts)
const http = process.getBuiltinModule('node:http')
const https = process.getBuiltinModule('node:https')

// JSON over node:http for the identity lookups a PDS makes on its own
// account paths (PLC operations, DID documents). Node's global fetch loads
// its HTTP stack (undici, ~15 MiB of RSS) at its first call; node:http is
// loaded already for the server.

export type JsonResponse = {
  url: URL
  status: number
  /** the body, parsed when it is JSON, else undefined */
  json: unknown
  text: string
}

const MAX_RESPONSE_BYTES = 1024 * 1024

/**
 * One request with an optional JSON body; any status resolves (the caller
 * says what a non-2xx means). No redirects are followed. Fails on a
 * connection error, after `timeoutMs` without an answer, or past 1 MiB.
 */
export const httpJson = (method: 'GET' | 'POST', url: URL, body?: unknown, opts: { timeoutMs?: number; accept?: string } = {}): Promise<JsonResponse> => {
  const timeoutMs = opts.timeoutMs ?? 30_000
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const headers: Record<string, string | number> = { accept: opts.accept ?? 'application/json' }
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length })
  const lib = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined
  if (!lib) return Promise.reject(new Error(`not an http(s) URL: ${url}`))
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`answer over ${MAX_RESPONSE_BYTES} bytes: ${method} ${url}`))
        else chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown = undefined
        try {
          json = text ? JSON.parse(text) : undefined
        } catch {
          // not JSON: the caller has the text
        }
        resolve({ url, status: res.statusCode ?? 0, json, text })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s: ${method} ${url}`)))
    req.on('error', reject)
    req.end(payload)
  })
}
