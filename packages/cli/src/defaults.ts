// What `atp --help` shows, kept apart from the modules that do the work: the
// command line loads those (@atproto/api, repo, identity, sync) only for the
// command it runs.

export const DEFAULT_PLC = 'https://plc.directory'

export const STEPS = ['login', 'create-account', 'import-repo', 'blobs', 'preferences', 'plc', 'activate', 'deactivate-old', 'verify'] as const
export type Step = (typeof STEPS)[number]
