import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

const KEYLEN = 64

const scryptAsync = (password: string, salt: string): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    scrypt(password, salt, KEYLEN, { N: 16384, r: 8, p: 1 }, (err, key) => (err ? reject(err) : resolve(key))),
  )

/** `salt:hash`, both hex (the reference PDS's format). */
export const hashPassword = async (password: string): Promise<string> => {
  const salt = randomBytes(16).toString('hex')
  const hash = await scryptAsync(password.normalize('NFKC'), salt)
  return `${salt}:${hash.toString('hex')}`
}

export const verifyPassword = async (password: string, stored: string): Promise<boolean> => {
  const [salt, hashHex] = stored.split(':')
  if (!salt || !hashHex) return false
  const expected = Buffer.from(hashHex, 'hex')
  const actual = await scryptAsync(password.normalize('NFKC'), salt)
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

const APP_PW_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** xxxx-xxxx-xxxx-xxxx, the shape clients recognise as an app password. */
export const generateAppPassword = (): string => {
  const bytes = randomBytes(16)
  const chars = Array.from(bytes, (b) => APP_PW_ALPHABET[b % 32])
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-')
}

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** XXXXX-XXXXX email token. */
export const generateEmailToken = (): string => {
  const bytes = randomBytes(10)
  const chars = Array.from(bytes, (b) => TOKEN_ALPHABET[b % 32])
  return `${chars.slice(0, 5).join('')}-${chars.slice(5).join('')}`
}

export const generateInviteCode = (hostname: string): string => {
  const bytes = randomBytes(10)
  const chars = Array.from(bytes, (b) => APP_PW_ALPHABET[b % 32]).join('')
  return `${hostname.replace(/\./g, '-')}-${chars.slice(0, 5)}-${chars.slice(5)}`
}
