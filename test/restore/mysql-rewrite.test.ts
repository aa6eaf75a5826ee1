/**
 * The database-name rewrite (rewrite.ts), pure: only `/*!50001 VIEW` lines and mysqldump's own
 * `ALTER DATABASE` lines change (and, for a restore's load, the table lock lines are emptied),
 * whatever the chunk boundaries; every other byte passes as it came.
 */
import { Readable, type Transform } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DatabaseNameRewrite, requalify } from '../../src/engines/mysql/rewrite.js'

const dump = [
  "INSERT INTO `t` VALUES (1,'`shop`.`t` stays in data');",
  '/*!50001 VIEW `v` AS select `shop`.`t`.`id` AS `id` from `t` */;',
  '/*!50001 VIEW',
  '/*!50001 SET character_set_client      = utf8mb3 */;',
  '/*!50001 VIEW `w` AS select `shöp`.`t`.`id` AS `id` from `other`.`t` */;',
  'ALTER DATABASE `shop` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;',
  'ALTER DATABASE `shop` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci ;;',
  'ALTER DATABASE `other` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;',
  'ALTER DATABASE `shop` COLLATE latin1_bin;',
  "INSERT INTO `t` VALUES (1,'ALTER DATABASE `shop` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;');",
  '',
].join('\n')

/** What the rewrite does to one whole line (no newline): the rule, written plainly. */
function rewriteLine(line: string, from: string, to: string): string {
  if (line.startsWith('/*!50001 VIEW ')) return requalify(line, from, to)
  const alter = /^ALTER DATABASE (`(?:[^`]|``)+`)( CHARACTER SET \w+ COLLATE \w+ ;;?)$/.exec(line)
  const name = (db: string) => `\`${db.replace(/`/g, '``')}\``
  return alter?.[1] === name(from) ? `ALTER DATABASE ${name(to)}${alter[2]}` : line
}

async function rewrite(text: string, chunk: number, from = 'shop', to = 'new`db'): Promise<string> {
  const bytes = Buffer.from(text)
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk))
  return (await buffer(Readable.from(parts).pipe(new DatabaseNameRewrite(from, to)))).toString()
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

describe('DatabaseNameRewrite', () => {
  it('renames the database in view lines and its own ALTER DATABASE lines only, for every chunk size', async () => {
    const want = dump
      .replace('select `shop`.`t`.`id`', 'select `new``db`.`t`.`id`')
      .replace('ALTER DATABASE `shop` CHARACTER SET latin1', 'ALTER DATABASE `new``db` CHARACTER SET latin1')
      .replace('ALTER DATABASE `shop` CHARACTER SET utf8mb4', 'ALTER DATABASE `new``db` CHARACTER SET utf8mb4')
    expect(want.split('new``db').length).toBe(4)
    for (const size of [1, 2, 7, 13, 64, 1 << 16]) expect(await rewrite(dump, size), `chunk ${size}`).toBe(want)
  })

  it('handles names outside ASCII and leaves a text without view lines byte for byte', async () => {
    expect(await rewrite(dump, 5, 'shöp', 'x')).toBe(dump.replace('select `shöp`.`t`', 'select `x`.`t`'))
    const alter = 'ALTER DATABASE `shöp` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;\n'
    expect(await rewrite(alter, 3, 'shöp', 'x')).toBe(alter.replace('`shöp`', '`x`'))
    const plain = 'a\n\n/*!40101 SET x */;\nlast line without newline'
    expect(await rewrite(plain, 3)).toBe(plain)
  })

  it('gives what the rule gives line by line, for any text cut anywhere', async () => {
    const piece = fc.constantFrom(
      '/*!50001 VIEW ',
      '/*!50001 VIE',
      '`shop`.',
      'select ',
      'ALTER DATABASE `',
      'ALTER DATABASE `shop` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;',
      'shop` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin ;;',
      'ALTER DATA',
      ';',
      '\n',
      'x',
      '/*!',
      '',
    )
    await forAnyTextCutAnywhere(
      piece,
      (text) =>
        text
          .split('\n')
          .map((line) => rewriteLine(line, 'shop', 'x'))
          .join('\n'),
      () => new DatabaseNameRewrite('shop', 'x'),
    )
  })

  it('passes a chunk without a view line on in one write, as it came', async () => {
    const rewrite = new DatabaseNameRewrite('shop', 'x')
    const writes: Buffer[] = []
    rewrite.on('data', (b: Buffer) => writes.push(b))
    const chunk = Buffer.from('INSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);\n\n/*!40101 SET x */;\nINS')
    rewrite.end(chunk)
    await new Promise((r) => rewrite.on('end', r))
    expect(writes).toHaveLength(1)
    expect(writes[0]!.buffer).toBe(chunk.buffer)
  })

  it('with dropLocks, empties the table lock lines (their newline stays) and nothing else, for any text cut anywhere', async () => {
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
            const emptied = line.startsWith('LOCK TABLES `') || line.startsWith('UNLOCK TABLES;')
            const kept = emptied ? '' : rewriteLine(line, 'shop', 'x')
            return last ? kept : `${kept}\n`
          })
          .join('')
      },
      () => new DatabaseNameRewrite('shop', 'x', { dropLocks: true }),
    )
  })

  it("keeps the lock lines unless asked (the drill's re-dump is compared with the backup as written)", async () => {
    const text = 'LOCK TABLES `t` WRITE;\nINSERT INTO `t` VALUES (1);\nUNLOCK TABLES;\n'
    expect(await rewrite(text, 4)).toBe(text)
  })

  it('requalify() is the same rule for one definition', () => {
    expect(requalify('select `a`.`t`.`id` from `a`.`t`', 'a', 'b')).toBe('select `b`.`t`.`id` from `b`.`t`')
    expect(requalify('select `a`.`t`.`id`', 'a', 'a')).toBe('select `a`.`t`.`id`')
  })
})
