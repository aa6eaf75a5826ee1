/**
 * `dbkeeper alert --test`: one alert, marked as a test in its subject, its first line and its
 * facts (`kind: "test"`, trigger `test`), so that nobody reading it at 3 a.m. acts on it and a
 * receiver that routes on the facts can tell it apart.
 */
import type { Alert } from './message.js'

export const TEST_ALERT_LINE = 'dbkeeper test alert — no action needed'

export function buildTestAlert(host: string, now: Date): Alert {
  const at = now.toISOString()
  return {
    subject: `[dbkeeper] test alert from ${host} — no action needed`,
    text: [
      `${TEST_ALERT_LINE}.`,
      '',
      `Sent by \`dbkeeper alert --test\` on ${host} at ${at}, to prove that dbkeeper's alerts reach you`,
      'on this channel. Nothing failed, and no backup was taken or changed.',
      '',
      '-- ',
      `dbkeeper on ${host}`,
      '',
    ].join('\n'),
    facts: {
      host,
      runId: `test-${at}`,
      trigger: 'test',
      kind: 'test',
      ok: true,
      startedAt: at,
      finishedAt: at,
      failures: [],
      succeeded: [],
      runErrors: [],
      nextSteps: [],
    },
  }
}
