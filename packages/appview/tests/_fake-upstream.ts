import { FakeAccount, POST, post, type FakePds } from '@atsuite/dev-env'

/**
 * A new account on the fake PDS, announced with a genesis commit (one post,
 * rkey `aaaaaaaaaaaaa`, no `since`): an app view indexes it from its beginning.
 */
export const genesisAccount = async (plcUrl: string, pds: FakePds): Promise<FakeAccount> => {
  const acc = await FakeAccount.create(plcUrl, pds.url)
  pds.repos.set(acc.did, acc)
  const genesis = await acc.commit([{ action: 'create', collection: POST, rkey: 'aaaaaaaaaaaaa', record: post('first') }])
  pds.emit('#commit', { ...genesis.body, since: null, prevData: null })
  return acc
}
