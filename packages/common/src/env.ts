// Typed readers for environment variables. Empty strings count as unset, so a
// `pds.env` line like `PDS_PORT=` falls back to the default.

export type Env = Record<string, string | undefined>

export const envStr = (env: Env, name: string): string | undefined => {
  const v = env[name]
  return v === undefined || v === '' ? undefined : v
}

export const envInt = (env: Env, name: string): number | undefined => {
  const v = envStr(env, name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n)) {
    throw new ConfigError(`${name} must be an integer, got "${v}"`)
  }
  return n
}

export const envBool = (env: Env, name: string): boolean | undefined => {
  const v = envStr(env, name)
  if (v === undefined) return undefined
  if (v === 'true' || v === '1') return true
  if (v === 'false' || v === '0') return false
  throw new ConfigError(`${name} must be true or false, got "${v}"`)
}

export const envList = (env: Env, name: string): string[] | undefined => {
  const v = envStr(env, name)
  if (v === undefined) return undefined
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

export class ConfigError extends Error {}
