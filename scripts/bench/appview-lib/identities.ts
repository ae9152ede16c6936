// The synthetic accounts' identities: each gets a secp256k1 signing key and a
// did:plc registered in the benchmark's PLC directory, whose document names
// the fake host as its PDS and `u<i>.test` as its handle (the host answers
// resolveHandle for it). Viewers' keys mint the service JWTs the app view
// verifies (iss = viewer, aud = the app view's DID, lxm = the method).
import { randomBytes } from 'node:crypto'
import { Secp256k1Keypair } from '@atproto/crypto'
import { createServiceJwt } from '@atproto/xrpc-server'
import { Client, createOp } from '@did-plc/lib'

export type Account = { did: string; handle: string; priv: Uint8Array }

/** Registers `n` accounts, 16 at a time; `onProgress` gets the count done now and then. */
export const registerAccounts = async (plcUrl: string, pdsUrl: string, n: number, onProgress: (done: number) => void): Promise<Account[]> => {
  const plc = new Client(plcUrl)
  const rotation = await Secp256k1Keypair.create()
  const accounts: Account[] = new Array(n)
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      const priv = new Uint8Array(randomBytes(32))
      const key = await Secp256k1Keypair.import(priv)
      const handle = `u${i}.test`
      const { op, did } = await createOp({ signingKey: key.did(), handle, pds: pdsUrl, rotationKeys: [rotation.did()], signer: rotation as never })
      await plc.sendOperation(did, op as never)
      accounts[i] = { did, handle, priv }
      if (++done % 500 === 0) onProgress(done)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  return accounts
}

/** A service JWT for `lxm` on the app view `aud`, signed by the account's key, valid an hour. */
export const serviceJwt = async (account: Account, aud: string, lxm: string): Promise<string> => {
  const keypair = await Secp256k1Keypair.import(account.priv)
  return createServiceJwt({ iss: account.did, aud, lxm, keypair, exp: Math.floor(Date.now() / 1000) + 3600 })
}
