import type { Route } from '../../../util.ts'
import { deleteAccount } from './deleteAccount.ts'
import { disableAccountInvites } from './disableAccountInvites.ts'
import { disableInviteCodes } from './disableInviteCodes.ts'
import { enableAccountInvites } from './enableAccountInvites.ts'
import { getAccountInfo } from './getAccountInfo.ts'
import { getAccountInfos } from './getAccountInfos.ts'
import { getInviteCodes } from './getInviteCodes.ts'
import { searchAccounts } from './searchAccounts.ts'
import { sendEmail } from './sendEmail.ts'
import { updateAccountEmail } from './updateAccountEmail.ts'
import { updateAccountHandle } from './updateAccountHandle.ts'
import { updateAccountPassword } from './updateAccountPassword.ts'
import { updateAccountSigningKey } from './updateAccountSigningKey.ts'

/** The operator's com.atproto.admin methods (admin Basic auth), apart from subject status. */
export const adminRoutes: Route[] = [
  getAccountInfo, getAccountInfos, searchAccounts,
  updateAccountEmail, updateAccountHandle, updateAccountPassword, updateAccountSigningKey,
  sendEmail,
  enableAccountInvites, disableAccountInvites, getInviteCodes, disableInviteCodes,
  deleteAccount,
]
