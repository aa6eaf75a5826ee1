/**
 * The view-qualifier rewrite (mysql-rewrite.ts), pure: only `/*!50001 VIEW` lines change (and, for
 * the parallel load, the table lock lines are dropped), whatever the chunk boundaries; every other
 * byte passes as it came.
 */
import { Readable, type Transform } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import fc from 'fast-check'
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

/**
 * For any text made of `piece`s, cut into chunks anywhere: the rewrite made by `make` gives
 * `want(text)`.
 */
async function forAnyTextCutAnywhere(
  piece: fc.Arbitrary<string>,
  want: (text: string) => string,
  make: () => Transform,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.array(piece, { maxLength: 40 }),
      fc.array(fc.nat(80), { maxLength: 8 }),
      async (parts, cuts) => {
        const text = parts.join('')
        const bytes = Buffer.from(text)
        const at = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b)
        const chunks = [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length)).filter((c) => c.length)
        const got = await buffer(Readable.from(chunks).pipe(make()))
        expect(got.toString()).toBe(want(text))
      },
    ),
  )
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

  it('gives what requalify() gives line by line, for any text cut anywhere', async () => {
    const piece = fc.constantFrom('/*!50001 VIEW ', '/*!50001 VIE', '`shop`.', 'select ', '\n', 'x', '/*!', '')
    await forAnyTextCutAnywhere(
      piece,
      (text) =>
        text
          .split('\n')
          .map((line) => (line.startsWith('/*!50001 VIEW ') ? requalify(line, 'shop', 'x') : line))
          .join('\n'),
      () => new ViewQualifierRewrite('shop', 'x'),
    )
  })

  it('passes a chunk without a view line on in one write, as it came', async () => {
    const rewrite = new ViewQualifierRewrite('shop', 'x')
    const writes: Buffer[] = []
    rewrite.on('data', (b: Buffer) => writes.push(b))
    const chunk = Buffer.from('INSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);\n\n/*!40101 SET x */;\nINS')
    rewrite.end(chunk)
    await new Promise((r) => rewrite.on('end', r))
    expect(writes).toHaveLength(1)
    expect(writes[0]!.buffer).toBe(chunk.buffer)
  })

  it('with dropLocks, drops the table lock lines and nothing else, for any text cut anywhere', async () => {
    const piece = fc.constantFrom(
      'LOCK TABLES `t` WRITE;\n',
      'UNLOCK TABLES;\n',
      'LOCK TABLES `',
      'UNLOCK TABLES',
      'LOCK TABLE',
      "INSERT INTO `t` VALUES ('LOCK TABLES `x` WRITE;');\n",
      '/*!50001 VIEW ',
      '`shop`.',
      '\n',
      'x',
      '',
    )
    await forAnyTextCutAnywhere(
      piece,
      (text) => {
        const lines = text.split('\n')
        return lines
          .map((line, i) => {
            const last = i === lines.length - 1
            if (line.startsWith('LOCK TABLES `') || line.startsWith('UNLOCK TABLES;')) return undefined
            const kept = line.startsWith('/*!50001 VIEW ') ? requalify(line, 'shop', 'x') : line
            return last ? kept : `${kept}\n`
          })
          .filter((line) => line !== undefined)
          .join('')
      },
      () => new ViewQualifierRewrite('shop', 'x', { dropLocks: true }),
    )
  })

  it('keeps the lock lines unless asked (the one-client load is what gunzip | mariadb does)', async () => {
    const text = 'LOCK TABLES `t` WRITE;\nINSERT INTO `t` VALUES (1);\nUNLOCK TABLES;\n'
    expect(await rewrite(text, 4)).toBe(text)
  })

  it('requalify() is the same rule for one definition', () => {
    expect(requalify('select `a`.`t`.`id` from `a`.`t`', 'a', 'b')).toBe('select `b`.`t`.`id` from `b`.`t`')
    expect(requalify('select `a`.`t`.`id`', 'a', 'a')).toBe('select `a`.`t`.`id`')
  })
})
