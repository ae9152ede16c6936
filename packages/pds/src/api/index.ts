import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../context.ts'
import type { Route } from './util.ts'
import { applyWrites } from './com/atproto/repo/applyWrites.ts'
import { createRecord } from './com/atproto/repo/createRecord.ts'
import { deleteRecord } from './com/atproto/repo/deleteRecord.ts'
import { describeRepo } from './com/atproto/repo/describeRepo.ts'
import { getRecord } from './com/atproto/repo/getRecord.ts'
import { listRecords } from './com/atproto/repo/listRecords.ts'
import { putRecord } from './com/atproto/repo/putRecord.ts'
import { uploadBlob } from './com/atproto/repo/uploadBlob.ts'
import { importRepo } from './com/atproto/repo/importRepo.ts'
import { listMissingBlobs } from './com/atproto/repo/listMissingBlobs.ts'
import { getBlob } from './com/atproto/sync/getBlob.ts'
import { getBlocks } from './com/atproto/sync/getBlocks.ts'
import { getLatestCommit } from './com/atproto/sync/getLatestCommit.ts'
import { getRecord as syncGetRecord } from './com/atproto/sync/getRecord.ts'
import { getRepo } from './com/atproto/sync/getRepo.ts'
import { getRepoStatus } from './com/atproto/sync/getRepoStatus.ts'
import { listBlobs } from './com/atproto/sync/listBlobs.ts'
import { listRepos } from './com/atproto/sync/listRepos.ts'
import { resolveHandle } from './com/atproto/identity/resolveHandle.ts'
import { updateHandle } from './com/atproto/identity/updateHandle.ts'
import { refreshIdentity, resolveDid, resolveIdentity } from './com/atproto/identity/resolveIdentity.ts'
import {
  getRecommendedDidCredentials,
  requestPlcOperationSignature,
  signPlcOperation,
  submitPlcOperation,
} from './com/atproto/identity/plcOperations.ts'
import { describeServer } from './com/atproto/server/describeServer.ts'
import { createAccount } from './com/atproto/server/createAccount.ts'
import { createSession } from './com/atproto/server/createSession.ts'
import { getSession } from './com/atproto/server/getSession.ts'
import { refreshSession } from './com/atproto/server/refreshSession.ts'
import { deleteSession } from './com/atproto/server/deleteSession.ts'
import { createAppPassword, listAppPasswords, revokeAppPassword } from './com/atproto/server/appPasswords.ts'
import { getServiceAuth } from './com/atproto/server/getServiceAuth.ts'
import { activateAccount, checkAccountStatus, deactivateAccount } from './com/atproto/server/accountStatus.ts'
import { deleteAccount, requestAccountDelete } from './com/atproto/server/deleteAccount.ts'
import { requestPasswordReset, resetPassword } from './com/atproto/server/passwordReset.ts'
import { confirmEmail, requestEmailConfirmation, requestEmailUpdate, updateEmail } from './com/atproto/server/email.ts'
import { createInviteCode, createInviteCodes } from './com/atproto/server/invites.ts'
import { getPreferences, putPreferences } from './app/bsky/actor/preferences.ts'
import { getSubjectStatus, updateSubjectStatus } from './com/atproto/admin/subjectStatus.ts'
import { adminRoutes } from './com/atproto/admin/index.ts'
import { appViewRoutes } from './app/bsky/index.ts'

const routes: Route[] = [
  createRecord, putRecord, deleteRecord, applyWrites, getRecord, listRecords, describeRepo, uploadBlob,
  importRepo, listMissingBlobs,
  getRepo, getLatestCommit, getRepoStatus, syncGetRecord, getBlocks, getBlob, listBlobs, listRepos,
  resolveHandle, updateHandle, resolveDid, resolveIdentity, refreshIdentity,
  getRecommendedDidCredentials, requestPlcOperationSignature, signPlcOperation, submitPlcOperation,
  describeServer, createAccount, createSession, getSession, refreshSession, deleteSession,
  createAppPassword, listAppPasswords, revokeAppPassword, getServiceAuth,
  checkAccountStatus, activateAccount, deactivateAccount, requestAccountDelete, deleteAccount,
  requestPasswordReset, resetPassword, requestEmailConfirmation, confirmEmail, requestEmailUpdate, updateEmail,
  createInviteCode, createInviteCodes,
  getPreferences, putPreferences,
  updateSubjectStatus, getSubjectStatus,
  ...adminRoutes,
]

export const registerRoutes = (server: Server, ctx: AppContext): void => {
  for (const route of routes) route(server, ctx)
  if (ctx.cfg.bskyAppView) for (const route of appViewRoutes) route(server, ctx)
}
