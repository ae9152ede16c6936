import type { AppContext } from '../context.ts'
import type { Account } from './account-manager.ts'

/**
 * The emailed sign-in code (the account's "email auth factor"): when it is
 * on, a password alone does not sign in (createSession, the OAuth sign-in
 * page); a code mailed to the confirmed address must come with it. App
 * passwords are not asked for one, as in the reference.
 */
export const needsSignInCode = (acc: Account): boolean => acc.emailAuthFactor === 1 && acc.email !== null && acc.emailConfirmedAt !== null

/** Mails a fresh code (replacing any earlier one); it expires like every email token. */
export const mailSignInCode = async (ctx: AppContext, acc: Account): Promise<void> => {
  const token = await ctx.accounts.createEmailToken(acc.did, 'sign_in')
  await ctx.mailer.sendToken(acc.email!, 'sign_in', token, 'sign in')
}

/** The address shown when asking for the code: `a***e@example.com`. */
export const maskedEmail = (email: string): string => {
  const [user, domain] = email.split('@')
  return user.length <= 2 ? `${user[0]}***@${domain}` : `${user[0]}***${user[user.length - 1]}@${domain}`
}
