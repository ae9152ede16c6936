export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `cond` every 20 ms until it holds, or throws after `ms` naming `what`. */
export const waitFor = async (what: string, cond: () => boolean, ms = 10_000) => {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
