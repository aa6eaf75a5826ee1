/** Alerts by email through nodemailer, one SMTP connection per alert (see the Notifier contract). */
import nodemailer from 'nodemailer'
import type { EmailConfig } from '../config/daemon.js'
import type { Alert } from './message.js'
import { NOTIFY_TIMEOUT_MS, type Notifier } from './notifier.js'

export function createEmailNotifier(config: EmailConfig): Notifier {
  const target = `email to ${config.to.join(', ')} via ${config.host}:${config.port}`
  return {
    kind: 'email',
    target,
    async send(alert: Alert): Promise<void> {
      // A fresh transport per alert: alerts are rare, and a pooled connection the server dropped
      // while it was down would fail the next alert too.
      const transport = nodemailer.createTransport({
        host: config.host,
        port: config.port,
        secure: config.secure,
        auth: config.user === undefined ? undefined : { user: config.user, pass: config.password?.reveal() ?? '' },
        connectionTimeout: NOTIFY_TIMEOUT_MS,
        greetingTimeout: NOTIFY_TIMEOUT_MS,
        socketTimeout: 2 * NOTIFY_TIMEOUT_MS,
        // Alert text is ours, but nothing in a message should ever make the mailer read a file or URL.
        disableFileAccess: true,
        disableUrlAccess: true,
      })
      try {
        await transport.sendMail({
          from: config.from,
          to: [...config.to],
          subject: alert.subject,
          text: alert.text,
          headers: { 'X-Dbkeeper-Run': alert.facts.runId },
        })
      } catch (error) {
        throw new Error(`${target}: ${(error as Error).message}`, { cause: error })
      } finally {
        transport.close()
      }
    },
  }
}
