/**
 * The in-process test network (PLC directory, PDS, relay on loopback) and
 * the pieces tests use around it.
 */
export { TestNetwork, type TestNetworkOptions, type TestUser } from './network.ts'
export type { NetworkService } from './service.ts'
export { PlcService } from './plc.ts'
export { PdsService, startTestPds, testPdsConfig, testSecrets, type TestPdsOptions } from './pds.ts'
export {
  RELAY_ADMIN_PASSWORD,
  RelayService,
  relayAdminHeaders,
  startTestRelay,
  testRelayConfig,
  waitForHostCursor,
  waitForHostStatus,
  type TestRelayOptions,
} from './relay.ts'
export { AppViewService, testAppViewConfig, type TestAppViewOptions } from './appview.ts'
export { TestFirehose, type TestFirehoseOptions } from './firehose.ts'
export { freePort, waitUntil, type WaitOptions, type Wakeup } from './util.ts'
export { FakePds, carBytes, type FakePdsOptions, type FakeRepoSource } from './fake-pds.ts'
export { FakeAccount, POST, post, tidAt, type BuiltCommit, type CommitOptions, type Write } from './fake-repo.ts'
export { latestMail, latestMailIn, type TestMail } from './mail.ts'
export { ATP_BIN, runAtp, type CliRun } from './cli.ts'
export { PdsCrashHarness, auditFailures, type CrashAudit, type CrashHarnessOptions, type RoundReport } from './crash.ts'
export { ChildService, NODE_BIN, REPO_ROOT, childPdsEnv, childPdsSecrets } from './child.ts'
