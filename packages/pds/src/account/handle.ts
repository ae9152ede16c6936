import { ensureValidHandle, normalizeHandle, type HandleString } from '@atproto/syntax'
import { InvalidRequest } from '../errors.ts'

const validHandle = (handle: string): HandleString => {
  try {
    ensureValidHandle(handle)
    return handle
  } catch (err) {
    throw new InvalidRequest(`Invalid handle: ${(err as Error).message}`, 'InvalidHandle')
  }
}

/**
 * A handle this PDS may give out: valid syntax, under one of the service
 * domains, first label 3–18 characters. Returns it normalised (lowercase).
 */
export const checkServiceHandle = (input: string, domains: string[]): HandleString => {
  const handle = validHandle(normalizeHandle(input))
  const domain = domains.find((d) => handle.endsWith(d))
  if (!domain) {
    throw new InvalidRequest(`Not a supported handle domain: use a handle ending in ${domains.join(' or ')}`, 'UnsupportedDomain')
  }
  const front = handle.slice(0, -domain.length)
  if (front.includes('.')) {
    throw new InvalidRequest('Invalid handle: may not contain a dot before the service domain', 'InvalidHandle')
  }
  if (front.length < 3) throw new InvalidRequest('Handle too short', 'InvalidHandle')
  if (front.length > 18) throw new InvalidRequest('Handle too long', 'InvalidHandle')
  return handle
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export const checkEmail = (email: string): string => {
  if (!EMAIL_RE.test(email) || email.length > 254) {
    throw new InvalidRequest('This email address is not supported, please use a different email.', 'InvalidEmail')
  }
  return email.toLowerCase()
}

export const checkPassword = (password: string): void => {
  if (password.length < 8) throw new InvalidRequest('Password must be at least 8 characters', 'InvalidPassword')
  if (password.length > 256) throw new InvalidRequest('Password too long', 'InvalidPassword')
}

/**
 * A handle for an existing DID: one of ours (as checkServiceHandle), or a
 * domain of the user's whose DNS TXT record `_atproto.<handle>` or
 * `https://<handle>/.well-known/atproto-did` names that DID.
 */
export const checkHandleForDid = async (
  input: string,
  did: string,
  domains: string[],
  resolver: { resolve(handle: string): Promise<string | undefined> },
): Promise<HandleString> => {
  const handle = validHandle(normalizeHandle(input))
  if (domains.some((d) => handle.endsWith(d))) return checkServiceHandle(handle, domains)
  const found = await resolver.resolve(handle)
  if (found !== did) {
    throw new InvalidRequest(
      `${handle} does not point at ${did}${found ? ` (it names ${found})` : ''}: add a DNS TXT record _atproto.${handle} with "did=${did}", or serve ${did} at https://${handle}/.well-known/atproto-did`,
      'InvalidHandle',
    )
  }
  return handle
}
