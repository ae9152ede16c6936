// Command-line flags shared by the benchmarks: --help prints the usage, a
// numeric flag out of range exits 2 with the usage.

export const helpAndExit = (help: boolean | undefined, usage: string): void => {
  if (!help) return
  console.log(usage)
  process.exit(0)
}

/** A numeric flag's value, at least `min`; exits 2 with the usage otherwise. */
export const numFlag = (flags: Record<string, unknown>, name: string, min: number, usage: string): number => {
  const v = Number(flags[name])
  if (!Number.isFinite(v) || v < min) {
    console.error(`--${name} must be a number >= ${min}, got "${String(flags[name])}"\n${usage}`)
    process.exit(2)
  }
  return v
}
