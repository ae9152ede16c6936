import { Client, type ExportedOp } from '@did-plc/lib'

/**
 * @did-plc/lib's Client, which works against this server unchanged
 * (createDid, sendOperation, getDocumentData, getLastOp, getAuditableLog, …).
 * Do not use its `export()`: axios turns a one-line page into an object and
 * an empty page into [''], and both then fail; use `exportOps` below.
 */
export { Client as PlcClient }
export type { ExportedOp }

/** One page of GET /export (jsonlines), parsed; empty array at the end. */
export const exportOps = async (
  plcUrl: string,
  opts: { after?: string; count?: number } = {},
): Promise<ExportedOp[]> => {
  const url = new URL('/export', plcUrl)
  if (opts.after !== undefined) url.searchParams.set('after', opts.after)
  if (opts.count !== undefined) url.searchParams.set('count', String(opts.count))
  const res = await fetch(url)
  const text = await res.text()
  if (!res.ok) throw new Error(`GET ${url.pathname} failed with ${res.status}: ${text.slice(0, 200)}`)
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ExportedOp)
}
