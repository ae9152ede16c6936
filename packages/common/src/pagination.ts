// Keyset pagination helpers shared by list endpoints.

export const clampLimit = (limit: number | undefined, def: number, max: number): number => {
  if (limit === undefined || !Number.isFinite(limit)) return def
  return Math.max(1, Math.min(max, Math.floor(limit)))
}
