import fs from 'node:fs/promises'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Transporter } from 'nodemailer'

export type Mail = { to: string; subject: string; text: string; kind: string; token?: string }

/**
 * Sends account mail through SMTP when `PDS_EMAIL_SMTP_URL` is set; otherwise
 * writes each message as one JSON file under `<data>/mail/` (newest sorts
 * last), so local users and tests can read tokens.
 */
export class Mailer {
  private readonly smtpUrl: string | undefined
  private transport: Transporter | null = null
  private readonly from: string
  readonly directory: string

  constructor(opts: { smtpUrl?: string; from: string; directory: string }) {
    this.smtpUrl = opts.smtpUrl
    this.from = opts.from
    this.directory = opts.directory
  }

  async send(mail: Mail): Promise<void> {
    if (this.smtpUrl) {
      // loaded on first use: most local servers never send SMTP mail
      this.transport ??= (await import('nodemailer')).default.createTransport(this.smtpUrl)
      await this.transport.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text })
      return
    }
    await fs.mkdir(this.directory, { recursive: true })
    const name = `${Date.now().toString().padStart(15, '0')}-${randomBytes(4).toString('hex')}-${mail.kind}.json`
    await fs.writeFile(path.join(this.directory, name), JSON.stringify({ from: this.from, sentAt: new Date().toISOString(), ...mail }, null, 2))
  }

  sendToken(to: string, kind: string, token: string, purpose: string): Promise<void> {
    return this.send({
      to,
      kind,
      token,
      subject: `Your ${purpose} code`,
      text: `Your code to ${purpose} is: ${token}\n\nIt expires in 15 minutes. If you did not ask for it, ignore this message.`,
    })
  }
}
