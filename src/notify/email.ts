/** Alerts by email through nodemailer, one SMTP connection per alert (see the Notifier contract). */
import type { EmailConfig } from '../config/daemon.js'
import { DbkeeperError } from '../runtime/errors.js'
import type { Alert } from './message.js'
import { NOTIFY_TIMEOUT_MS, type Notifier } from './notifier.js'

/**
 * A fresh transport per use: alerts are rare, and a pooled connection the server dropped while it
 * was down would fail the next alert too. nodemailer is loaded here, on first use, not by every
 * run that merely has SMTP configured (~0.1 CPU s; docs/PERFORMANCE.md, "Fixed cost of a run").
 */
async function transportFor(config: EmailConfig) {
  const { default: nodemailer } = await import('nodemailer')
  return nodemailer.createTransport({
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
}

export function createEmailNotifier(config: EmailConfig): Notifier {
  const target = `email to ${config.to.join(', ')} via ${config.host}:${config.port}`
  return {
    kind: 'email',
    target,
    async send(alert: Alert): Promise<void> {
      const transport = await transportFor(config)
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
    /** Connect, greeting, STARTTLS or TLS as configured, and the login: everything but MAIL FROM. */
    async probe(): Promise<string> {
      const transport = await transportFor(config)
      try {
        await transport.verify()
      } catch (error) {
        const e = error as Error & { code?: string }
        // nodemailer's EAUTH message quotes the server's answer ("535 …"), never the password.
        if (e.code === 'EAUTH')
          throw new DbkeeperError(
            'AUTH',
            `the SMTP server refused the login of ${config.user ?? '(no user)'}: ${e.message}`,
            { hint: 'check SMTP_USER and SMTP_PASS (or SMTP_PASS_FILE)', cause: error },
          )
        const tls = e.code === 'ETLS' || /certificate|TLS|SSL/i.test(e.message)
        throw new DbkeeperError('CONNECT', e.message, {
          hint: tls
            ? "check SMTP_PORT and SMTP_SECURE (465 is TLS from the first byte, 587 is STARTTLS) and the server's certificate"
            : 'check SMTP_HOST / SMTP_PORT and that the mail server is running and reachable from this container',
          cause: error,
        })
      } finally {
        transport.close()
      }
      const tls = config.secure ? 'TLS from the first byte' : 'STARTTLS when the server offers it'
      return config.user === undefined
        ? `${config.host}:${config.port} answers (${tls}; no login configured); no mail sent`
        : `${config.host}:${config.port} accepted the login of ${config.user} (${tls}); no mail sent`
    },
  }
}
