import { P256_JWT_ALG, SECP256K1_JWT_ALG, formatMultikey, parseDidKey } from '@atproto/crypto'
import type { DocumentData } from '@did-plc/lib'

export type DidDocument = {
  '@context': string[]
  id: string
  alsoKnownAs: string[]
  verificationMethod: {
    id: string
    type: string
    controller: string
    publicKeyMultibase: string
  }[]
  service: { id: string; type: string; serviceEndpoint: string }[]
}

const KEY_CONTEXT: Record<string, string> = {
  [SECP256K1_JWT_ALG]: 'https://w3id.org/security/suites/secp256k1-2019/v1',
  [P256_JWT_ALG]: 'https://w3id.org/security/suites/ecdsa-2019/v1',
}

/**
 * Renders document data the way plc.directory does today: Multikey
 * verification methods with absolute ids (`did#atproto`), relative service ids
 * (`#atproto_pds`). @did-plc/lib 0.0.4's formatDidDoc still emits the older
 * EcdsaSecp256k1VerificationKey2019 form, so it is not used.
 * A verification method whose key cannot be parsed is left out (validation
 * refuses such keys, so this only matters for hand-edited databases).
 */
export const formatDidDocument = (data: DocumentData): DidDocument => {
  const context = ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1']
  const verificationMethod: DidDocument['verificationMethod'] = []
  for (const [id, key] of Object.entries(data.verificationMethods)) {
    let parsed: ReturnType<typeof parseDidKey>
    try {
      parsed = parseDidKey(key)
    } catch {
      continue
    }
    const keyContext = KEY_CONTEXT[parsed.jwtAlg]
    if (keyContext && !context.includes(keyContext)) context.push(keyContext)
    verificationMethod.push({
      id: `${data.did}#${id}`,
      type: 'Multikey',
      controller: data.did,
      publicKeyMultibase: formatMultikey(parsed.jwtAlg, parsed.keyBytes),
    })
  }
  const service = Object.entries(data.services).map(([id, s]) => ({
    id: `#${id}`,
    type: s.type,
    serviceEndpoint: s.endpoint,
  }))
  return {
    '@context': context,
    id: data.did,
    alsoKnownAs: data.alsoKnownAs,
    verificationMethod,
    service,
  }
}
