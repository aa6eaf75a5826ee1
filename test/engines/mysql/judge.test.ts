import { describe, expect, it } from 'vitest'
import { quoteOptionValue } from '../../../src/engines/mysql/credentials.js'
import { isErrorLine, judgeMysqldump } from '../../../src/engines/mysql/errors.js'
import { granteeOf, missingFrom } from '../../../src/engines/mysql/privileges.js'
import { chooseDumpTool, flavourOf, parseToolVersion, type DumpTool } from '../../../src/engines/mysql/version.js'
import { DbkeeperError } from '../../../src/runtime/errors.js'
import { mysqlSource } from './helpers.js'

const judge = judgeMysqldump('mysqldump', mysqlSource(), 'app')
const verdict = (exitCode: number, stderr: string) => judge({ exitCode, signal: undefined, stderr })

describe('judging how mysqldump ended (real stderr lines)', () => {
  it('exit 0 with nothing or only warnings on stderr is a good dump', () => {
    expect(verdict(0, '')).toBeUndefined()
    expect(
      verdict(0, 'mysqldump: [Warning] Using a password on the command line interface can be insecure.'),
    ).toBeUndefined()
    expect(
      verdict(
        0,
        'Warning: A partial dump from a server that has GTIDs will by default include the GTIDs of all transactions',
      ),
    ).toBeUndefined()
    expect(verdict(0, '-- Warning: column statistics not supported by the server.')).toBeUndefined()
  })

  it('exit 0 with an error line is still a failed dump', () => {
    const e = verdict(
      0,
      "mysqldump: Error: 'Lock wait timeout exceeded; try restarting transaction' when trying to dump tablespaces",
    )!
    expect(e.code).toBe('DUMP_FAILED')
    expect(e.message).toMatch(/^mysqldump exited 0 but reported an error: Error: 'Lock wait timeout/)
  })

  it('exit 0 with a privilege error (MySQL 8 tablespaces without PROCESS) is PRIVILEGE naming PROCESS', () => {
    const e = verdict(
      0,
      "mysqldump: Error: 'Access denied; you need (at least one of) the PROCESS privilege(s) for this operation' when trying to dump tablespaces",
    )!
    expect(e.code).toBe('PRIVILEGE')
    expect(e.hint).toContain('GRANT PROCESS ON `app`.*')
  })

  it('classifies the connection-time errors', () => {
    expect(
      verdict(
        2,
        `mysqldump: Got error: 1045: "Access denied for user 'backup'@'10.0.0.5' (using password: YES)" when trying to connect`,
      )!.code,
    ).toBe('AUTH')
    expect(
      verdict(2, `mysqldump: Got error: 2003: "Can't connect to server on 'db' (111)" when trying to connect`)!.code,
    ).toBe('CONNECT')
    expect(
      verdict(2, `mysqldump: Got error: 2005: "Unknown server host 'nohost' (-2)" when trying to connect`)!.code,
    ).toBe('CONNECT')
    expect(
      verdict(
        2,
        `mysqldump: Got error: 2002: "Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)" when trying to connect`,
      )!.code,
    ).toBe('CONNECT')
    expect(verdict(2, `mysqldump: Got error: 1049: "Unknown database 'app'" when selecting the database`)!.code).toBe(
      'NOT_FOUND',
    )
  })

  it('1044 "Access denied … to database" is a missing privilege, not bad credentials', () => {
    const e = verdict(
      2,
      "mysqldump: Couldn't execute 'show events': Access denied for user 'b'@'%' to database 'app' (1044)",
    )!
    expect(e.code).toBe('PRIVILEGE')
    expect(e.hint).toContain("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `app`.* TO 'root'@'%'")
  })

  it('a lost connection mid-dump is DUMP_FAILED with the exit code and the last error line', () => {
    const e = verdict(
      2,
      'mysqldump: Error 2013: Lost connection to server during query when dumping table `t` at row: 1234',
    )!
    expect(e).toBeInstanceOf(DbkeeperError)
    expect(e.code).toBe('DUMP_FAILED')
    expect(e.message).toBe(
      'mysqldump exited 2: Error 2013: Lost connection to server during query when dumping table `t` at row: 1234',
    )
  })

  it('a kill by signal says so, even with an empty stderr', () => {
    const e = judge({ exitCode: undefined, signal: 'SIGKILL', stderr: '' })!
    expect(e.code).toBe('DUMP_FAILED')
    expect(e.message).toBe('mysqldump was killed by SIGKILL: no message on stderr')
  })

  it('tells error lines from warnings', () => {
    expect(isErrorLine('mysqldump: Got errno 32 on write')).toBe(true)
    expect(isErrorLine("mysqldump: Couldn't execute 'SHOW CREATE TABLE x'")).toBe(true)
    expect(isErrorLine('-- Retrieving table structure for table error_log...')).toBe(false)
    expect(
      isErrorLine('Warning: Skipping the data of table mysql.event. Specify the --events option explicitly.'),
    ).toBe(false)
  })
})

describe('dump tool versions', () => {
  it('parses the version line of each client flavour', () => {
    expect(parseToolVersion('mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n')).toBe(
      '10.19 Distrib 10.11.19-MariaDB',
    )
    expect(parseToolVersion('mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)')).toBe(
      '11.4.2-MariaDB, client 10.19',
    )
    expect(parseToolVersion('mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)')).toBe('8.0.36')
    expect(flavourOf('10.11.19-MariaDB-0+deb12u1')).toBe('mariadb')
    expect(flavourOf('8.0.36')).toBe('mysql')
  })

  const mariadbTool: DumpTool = {
    command: 'mariadb-dump',
    version: '10.19 Distrib 10.11.19-MariaDB',
    flavour: 'mariadb',
  }
  const mysqlTool: DumpTool = { command: 'mysqldump', version: '8.0.36', flavour: 'mysql' }

  it('picks the tool of the server flavour when both are installed', () => {
    expect(chooseDumpTool([mysqlTool, mariadbTool], '10.11.19-MariaDB', mysqlSource())).toBe(mariadbTool)
    expect(chooseDumpTool([mysqlTool, mariadbTool], '8.0.36', mysqlSource())).toBe(mysqlTool)
  })

  it('refuses a flavour mismatch in both directions with VERSION naming both versions', () => {
    for (const [tools, server] of [
      [[mariadbTool], '8.4.3'],
      [[mysqlTool], '11.4.2-MariaDB'],
    ] as const) {
      const e = (() => {
        try {
          chooseDumpTool([...tools], server, mysqlSource())
        } catch (error) {
          return error as DbkeeperError
        }
      })()!
      expect(e.code).toBe('VERSION')
      expect(e.message).toContain(server)
      expect(e.message).toContain(tools[0].version)
      expect(e.hint).toMatch(/install (MariaDB|MySQL)'s client tools/)
    }
  })
})

describe('privilege judgement (pure)', () => {
  const none = () => ({
    global: new Set<string>(['USAGE']),
    schema: new Set<string>(),
    table: new Set<string>(),
    canReadProc: false,
  })
  it('lists what is missing', () => {
    expect(missingFrom(none())).toEqual(['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT', 'routines'])
    expect(missingFrom({ ...none(), schema: new Set(['SELECT', 'SHOW VIEW', 'EVENT']), canReadProc: true })).toEqual([
      'TRIGGER',
    ])
  })
  it('global grants, SHOW_ROUTINE and table-level grants count', () => {
    expect(missingFrom({ ...none(), global: new Set(['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT']) })).toEqual([])
    expect(
      missingFrom({
        ...none(),
        schema: new Set(['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT']),
        global: new Set(['SHOW_ROUTINE']),
      }),
    ).toEqual([])
    expect(
      missingFrom({
        ...none(),
        table: new Set(['SELECT', 'SHOW VIEW', 'TRIGGER']),
        schema: new Set(['EVENT']),
        canReadProc: true,
      }),
    ).toEqual([])
  })
  it('builds the GRANTEE form from CURRENT_USER()', () => {
    expect(granteeOf('backup@%')).toBe("'backup'@'%'")
    expect(granteeOf('we@ird@localhost')).toBe("'we@ird'@'localhost'")
  })
})

describe('option file quoting', () => {
  it('escapes backslashes, double quotes and control characters; keeps the rest', () => {
    expect(quoteOptionValue(`a'b"c d$e#f\\g`)).toBe(`"a'b\\"c d$e#f\\\\g"`)
    expect(quoteOptionValue('tab\there\nnl')).toBe('"tab\\there\\nnl"')
    expect(quoteOptionValue('')).toBe('""')
  })
})
