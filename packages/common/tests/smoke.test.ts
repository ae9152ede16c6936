import { AtpAgent } from '@atproto/api'
import { Repo, MemoryBlockstore } from '@atproto/repo'
import { Secp256k1Keypair } from '@atproto/crypto'
test('libs load', async () => {
  const kp = await Secp256k1Keypair.create()
  const repo = await Repo.create(new MemoryBlockstore(), 'did:plc:abc', kp)
  expect(repo.cid).toBeDefined()
  expect(typeof AtpAgent).toBe('function')
})
