import fs from 'node:fs/promises'
import path from 'node:path'
import type { PDS } from '@atsuite/pds'

export type TestMail = { to: string; kind: string; token?: string; subject: string; text: string }

/**
 * The newest mail of a kind (e.g. `plc_operation`) a PDS sent to an address,
 * read from its mail directory (a test PDS has no SMTP server); undefined
 * when there is none.
 */
export const latestMail = (pds: PDS, to: string, kind: string): Promise<TestMail | undefined> =>
  latestMailIn(pds.ctx.cfg.email.mailDirectory, to, kind)

/** latestMail for a PDS known only by its mail directory (one running in another process). */
export const latestMailIn = async (dir: string, to: string, kind: string): Promise<TestMail | undefined> => {
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(`-${kind}.json`)).sort()
  for (const n of names.reverse()) {
    const mail = JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as TestMail
    if (mail.to === to.toLowerCase() || mail.to === to) return mail
  }
  return undefined
}
