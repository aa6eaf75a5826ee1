/**
 * An SMTP endpoint for the alert tests (issue 10): on one fixed port, either the real smtp-server
 * of test/support/mail.ts or one of its failures (refused, busy, stalled), as the test switches.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { startMailServer, type MailServer, type ReceivedMail } from '../mail.js'
import { freePort, listenOn, retryWhilePortBusy } from '../servers.js'

export interface SmtpEndpoint {
  port: number
  /** Every message accepted while up (the real smtp-server of test/support/mail.ts). */
  messages: ReceivedMail[]
  /**
   * up: a real SMTP server with AUTH; down: nothing listens (refused); busy: greets with
   * "421 service not available" and hangs up; stall: accepts and never says a word.
   */
  set(mode: 'up' | 'down' | 'busy' | 'stall'): Promise<void>
  close(): Promise<void>
}

/** An SMTP endpoint on a fixed port, switched between a real server and its failures. */
export async function startSmtp(user: string, password: string): Promise<SmtpEndpoint> {
  const port = await freePort()
  let mode: 'up' | 'down' | 'busy' | 'stall' = 'down'
  let real: MailServer | undefined
  let raw: NetServer | undefined
  const sockets = new Set<Socket>()
  const messages: ReceivedMail[] = []
  const stopAll = async () => {
    if (real) {
      const s = real
      real = undefined
      messages.push(...s.messages)
      await s.close()
    }
    if (raw) {
      const s = raw
      raw = undefined
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => s.close(() => resolve()))
    }
  }
  const endpoint: SmtpEndpoint = {
    port,
    get messages() {
      return [...messages, ...(real?.messages ?? [])]
    },
    async set(next) {
      if (next === mode) return
      await stopAll()
      mode = next
      if (next === 'up') {
        real = await retryWhilePortBusy(() => startMailServer({ port, user, password }))
      } else if (next === 'busy' || next === 'stall') {
        raw = createNetServer((socket) => {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => undefined)
          if (next === 'busy') socket.end('421 4.3.2 Service not available, closing transmission channel\r\n')
        })
        await listenOn(raw, port)
      }
    },
    close: () => stopAll(),
  }
  return endpoint
}
