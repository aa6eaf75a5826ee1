/**
 * The view-qualifier rewrite (mysql-rewrite.ts), pure: only `/*!50001 VIEW` lines change, whatever
 * the chunk boundaries; every other byte passes as it came.
 */
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import { ViewQualifierRewrite, requalify } from '../../src/engines/mysql/rewrite.js'

const dump = [
  "INSERT INTO `t` VALUES (1,'`shop`.`t` stays in data');",
  '/*!50001 VIEW `v` AS select `shop`.`t`.`id` AS `id` from `t` */;',
  '/*!50001 VIEW',
  '/*!50001 SET character_set_client      = utf8mb3 */;',
  '/*!50001 VIEW `w` AS select `shöp`.`t`.`id` AS `id` from `other`.`t` */;',
  '',
].join('\n')

async function rewrite(text: string, chunk: number, from = 'shop', to = 'new`db'): Promise<string> {
  const bytes = Buffer.from(text)
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk))
  return (await buffer(Readable.from(parts).pipe(new ViewQualifierRewrite(from, to)))).toString()
}

describe('ViewQualifierRewrite', () => {
  it('requalifies view lines only, for every chunk size', async () => {
    const want = dump.replace('select `shop`.`t`.`id`', 'select `new``db`.`t`.`id`')
    for (const size of [1, 2, 7, 13, 64, 1 << 16]) expect(await rewrite(dump, size), `chunk ${size}`).toBe(want)
  })

  it('handles names outside ASCII and leaves a text without view lines byte for byte', async () => {
    expect(await rewrite(dump, 5, 'shöp', 'x')).toBe(dump.replace('select `shöp`.`t`', 'select `x`.`t`'))
    const plain = 'a\n\n/*!40101 SET x */;\nlast line without newline'
    expect(await rewrite(plain, 3)).toBe(plain)
  })

  it('requalify() is the same rule for one definition', () => {
    expect(requalify('select `a`.`t`.`id` from `a`.`t`', 'a', 'b')).toBe('select `b`.`t`.`id` from `b`.`t`')
    expect(requalify('select `a`.`t`.`id`', 'a', 'a')).toBe('select `a`.`t`.`id`')
  })
})
