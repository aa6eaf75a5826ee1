import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { Meter } from '../../src/pipeline/meter.js'

async function longest(chunks: string[], measure = true): Promise<number> {
  const meter = new Meter(false, measure)
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), meter, new Writable({ write: (_c, _e, cb) => cb() }))
  return meter.longestStatement
}

describe('Meter: the longest statement (what max_allowed_packet must hold for a mysqldump)', () => {
  it("counts a statement's every line, up to and with the `;` that ends its last one", async () => {
    // MariaDB's mysqldump: one row a line, the statement ends in `);`.
    const insert = "INSERT INTO `t` VALUES\n(1,'a'),\n(2,'bb'),\n(3,'ccc');"
    expect(await longest(['SET x=1;\n', `${insert}\n`, 'UNLOCK TABLES;\n'])).toBe(insert.length)
    // The same rows in other chunks: the measure does not depend on where the pipe cut them.
    const dump = `SET x=1;\n${insert}\nUNLOCK TABLES;\n`
    for (const at of [1, 7, 8, 9, 20, insert.length + 8, insert.length + 9, insert.length + 10]) {
      expect(await longest([dump.slice(0, at), dump.slice(at)]), `cut at ${at}`).toBe(insert.length)
    }
    expect(await longest([...dump])).toBe(insert.length)
  })
  it('ends a statement only where `;` is the last byte of a line (a `;` inside a value does not)', async () => {
    const insert = "INSERT INTO `t` VALUES\n(1,'a;b'),\n(2,';'),\n(3,'c;\\nd');"
    expect(await longest([`${insert}\n`, 'x;\n'])).toBe(insert.length)
    // `;` then `\n` split across two chunks ends it; `;` then another byte does not.
    expect(await longest(['ab;', '\ncd;\n'])).toBe(3)
    expect(await longest(['ab;', 'x\ncd;\n'])).toBe(8)
  })
  it('counts what follows the last `;` as a statement, and an empty dump as 0', async () => {
    expect(await longest(['short;\n', 'a much longer unfinished tail'])).toBe(29)
    expect(await longest(['no end at all;'])).toBe(14)
    expect(await longest([])).toBe(0)
    expect(await longest([';\n;\n;\n'])).toBe(1)
  })
  it('inside `DELIMITER ;;` a statement ends at `;;`: a routine is one statement however many `;` lines it has', async () => {
    const body = Array.from({ length: 40 }, (_, i) => `SET @a${i} = '${'x'.repeat(50 + i)}';`).join('\n')
    const routine = `/*!50003 CREATE*/ /*!50020 DEFINER=\`root\`@\`%\`*/ /*!50003 PROCEDURE \`p\`()\nBEGIN\n${body}\nEND */;;`
    const dump = [
      'SET x=1;',
      "INSERT INTO `t` VALUES\n(1,'a');",
      'DELIMITER ;;',
      routine,
      "/*!50003 CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = 'x;' */;;",
      'DELIMITER ;',
      '/*!50003 SET sql_mode = @saved_sql_mode */ ;',
      "INSERT INTO `u` VALUES\n(2,'b');",
      '',
    ].join('\n')
    expect(await longest([dump])).toBe(routine.length)
    // Wherever the pipe cuts it, DELIMITER lines and `;;` included.
    for (let at = 1; at < dump.length; at += 3)
      expect(await longest([dump.slice(0, at), dump.slice(at)]), `cut at ${at}`).toBe(routine.length)
    expect(await longest([...dump])).toBe(routine.length)
    // After `DELIMITER ;` a line ending in `;` ends a statement again.
    const after = `DELIMITER ;;\nEND ;;\nDELIMITER ;\n${'y'.repeat(30)};\nz;\n`
    expect(await longest([after])).toBe('DELIMITER ;\n'.length + 31)
    // A `DELIMITER ;;` that is not a whole line does not switch.
    expect(await longest([`(1,'DELIMITER ;;\n${'a;\n'.repeat(10)}`])).toBe(16)
  })
  it('measures nothing unless asked (the PostgreSQL and SQLite streams skip the scan)', async () => {
    expect(await longest(['abcdef;\n'], false)).toBe(0)
  })
})
