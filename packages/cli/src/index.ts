/** The CLI's pieces as a library (the `atp` command is bin.ts). */
export { CliError, ExitCode, describeError } from './errors.ts'
export { Resolver, DEFAULT_PLC, type Identity } from './identity.ts'
export { Migration, STEPS, type MigrateOptions, type MigrationReport, type Step } from './migrate.ts'
export { eventJson, tail } from './commands/firehose.ts'
