/**
 * The pure parts of `mbt-rpc` (workers/cli/rpc.ts): the command line, the key sources, the
 * printed command lines (shell quoting, checked by a real shell), reply and failure formatting.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  DEFAULT_TIMEOUT_MS, InputRefused, MAX_INPUT_BYTES, UsageError, escapeControls, formatFailure, formatReply, isLoopback, mbtRpcCommand, meaningOf,
  parseBootstrap, parseCommandLine, readInputFile, run, shellQuote
} from '../../../workers/cli/rpc'

const KEY = 'AB'.repeat(32)
const dir = mkdtempSync(path.join(os.tmpdir(), 'mbt-rpc-unit-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('parseCommandLine', () => {
  it('the hp-rpc-cli flags: -s -m -d -t --bn --ds', () => {
    const args = parseCommandLine(['-s', KEY, '-m', 'listThings', '-d', '{"status":1}', '-t', '2500', '--bn', '127.0.0.1:1,127.0.0.1:2', '--bn', 'localhost:3', '--ds', 'cd'.repeat(32)])
    expect(args).toEqual({
      help: false,
      key: KEY.toLowerCase(),
      method: 'listThings',
      data: { status: 1 },
      timeoutMs: 2500,
      bootstrap: ['127.0.0.1:1', '127.0.0.1:2', 'localhost:3'],
      seed: Buffer.from('cd'.repeat(32), 'hex'),
      pretty: undefined
    })
  })

  it('defaults: data {}, the timeout, the public bootstrap, output by the terminal', () => {
    const args = parseCommandLine(['--server', KEY, '--method', 'ping'])
    expect(args).toMatchObject({ data: {}, timeoutMs: DEFAULT_TIMEOUT_MS, bootstrap: undefined, seed: undefined, pretty: undefined })
    expect(parseCommandLine(['-s', KEY, '-m', 'ping', '--raw'])).toMatchObject({ pretty: false })
    expect(parseCommandLine(['-s', KEY, '-m', 'ping', '--pretty'])).toMatchObject({ pretty: true })
    expect(parseCommandLine(['-h'])).toEqual({ help: true })
  })

  it('keys from a status file, and from --rack under --root or the working directory', () => {
    mkdirSync(path.join(dir, 'status'), { recursive: true })
    const file = path.join(dir, 'status', 'wrk-container-rack-kehua-r1.json')
    writeFileSync(file, JSON.stringify({ rpcPublicKey: KEY, rpcClientKey: 'x', instanceId: 'y' }))
    expect(parseCommandLine(['--status-file', file, '-m', 'ping'])).toMatchObject({ key: KEY.toLowerCase() })
    expect(parseCommandLine(['--root', dir, '--rack', 'wrk-container-rack-kehua-r1', '-m', 'ping'])).toMatchObject({ key: KEY.toLowerCase() })
    expect(parseCommandLine(['--rack', 'wrk-container-rack-kehua-r1', '-m', 'ping'], { cwd: dir })).toMatchObject({ key: KEY.toLowerCase() })
    expect(parseCommandLine(['--status-file', 'status/wrk-container-rack-kehua-r1.json', '-m', 'ping'], { cwd: dir })).toMatchObject({ key: KEY.toLowerCase() })
  })

  it('-f - reads standard input; an empty request is {}', () => {
    expect(parseCommandLine(['-s', KEY, '-m', 'echo', '-f', '-'], { readStdin: () => '[1,2]' })).toMatchObject({ data: [1, 2] })
    expect(parseCommandLine(['-s', KEY, '-m', 'echo', '-d', '  '])).toMatchObject({ data: {} })
  })

  it('usage errors are UsageError, never a request', () => {
    for (const argv of [[], ['-s', KEY], ['-m', 'ping'], ['-s', KEY, '-m', ''], ['-s', KEY, '-m', 'x', '-t', '0'], ['-s', KEY, '-m', 'x', '--bn', 'h:99999'],
      ['-s', KEY, '-m', 'x', 'positional'], ['--root', dir, '-s', KEY, '-m', 'x'], ['-s', KEY, '-m', 'x', '--raw', '--pretty'], ['--rack', '.hidden', '-m', 'x']]) {
      expect(() => parseCommandLine(argv), argv.join(' ')).toThrow(UsageError)
    }
  })
})

describe('bootstrap nodes', () => {
  it('repeated and comma lists, host:port checked', () => {
    expect(parseBootstrap(['a:1, b:2', 'c:3'])).toEqual(['a:1', 'b:2', 'c:3'])
    expect(() => parseBootstrap(['a'])).toThrow(/expected host:port/)
    expect(() => parseBootstrap([','])).toThrow(UsageError)
  })

  it('loopback when every node is on this machine', () => {
    expect(isLoopback(['127.0.0.1:49737', 'localhost:1'])).toBe(true)
    expect(isLoopback(['127.0.0.1:49737', '10.0.0.1:49737'])).toBe(false)
  })
})

describe('printed command lines', () => {
  /** The words a POSIX shell makes of `line` after the program name. */
  function wordsOf (line: string): string[] {
    const out = execFileSync('sh', ['-c', `set -- ${line.replace(/^npx mbt-rpc /, '')}; for w in "$@"; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' })
    return out.split('\0').slice(0, -1)
  }

  it('a shell reads back exactly the request, quotes and all', () => {
    const data = { comment: "it's \"quoted\" $HOME `x` \\ ; & |", n: [1, null] }
    const line = mbtRpcCommand({ bootstrap: ['127.0.0.1:5'], key: 'ab'.repeat(32), method: 'saveThingComment', data, timeoutMs: 3000 })
    expect(line.startsWith('npx mbt-rpc --bn 127.0.0.1:5 -s ')).toBe(true)
    const words = wordsOf(line)
    expect(words).toEqual(['--bn', '127.0.0.1:5', '-s', 'ab'.repeat(32), '-m', 'saveThingComment', '-d', JSON.stringify(data), '-t', '3000'])
    expect(parseCommandLine(words)).toMatchObject({ method: 'saveThingComment', data, timeoutMs: 3000 })
  })

  it('--rack/--root and --status-file forms, -f files with spaces', () => {
    expect(wordsOf(mbtRpcCommand({ rack: 'wrk-container-rack-kehua-r1', root: '/tmp/a b', method: 'getRack' })))
      .toEqual(['--root', '/tmp/a b', '--rack', 'wrk-container-rack-kehua-r1', '-m', 'getRack'])
    expect(wordsOf(mbtRpcCommand({ statusFile: 'status/x.json', method: 'registerThing', file: '/tmp/my req.json' })))
      .toEqual(['--status-file', 'status/x.json', '-m', 'registerThing', '-f', '/tmp/my req.json'])
    expect(shellQuote('plain-word_1.json')).toBe('plain-word_1.json')
  })
})

describe('output', () => {
  it('raw is the text as sent, pretty is indented JSON', () => {
    const outcome = { value: { a: [1] }, text: '{"a":[1]}' }
    expect(formatReply(outcome, false)).toBe('{"a":[1]}')
    expect(formatReply(outcome, true)).toBe('{\n  "a": [\n    1\n  ]\n}')
  })

  it('failures start with the code; meanings come from the catalogue, families included', () => {
    expect(formatFailure({ kind: 'reply', code: 'ERR_THING_NOTFOUND', message: meaningOf('ERR_THING_NOTFOUND') })).toMatch(/^ERR_THING_NOTFOUND: \S/)
    expect(meaningOf('ERR_MODBUS_EXCEPTION_02')).toMatch(/Modbus exception/)
    expect(formatFailure({ kind: 'reply', code: 'ERR_SOMETHING_NEW', message: meaningOf('ERR_SOMETHING_NEW') })).toBe('ERR_SOMETHING_NEW')
    expect(formatFailure({ kind: 'transport', code: 'ERR_RPC_TIMEOUT', message: 'ping: no reply within 5 ms' })).toMatch(/^ERR_RPC_TIMEOUT: ping: no reply within 5 ms\nhint: /)
  })

  it('run: a usage error is exit 2 with a message on stderr, --help exit 0 on stdout', async () => {
    let out = ''
    let err = ''
    const io = { stdout: (t: string) => { out += t }, stderr: (t: string) => { err += t }, isTTY: false }
    expect(await run(['-s', KEY], io)).toBe(2)
    expect(out).toBe('')
    expect(err).toMatch(/^mbt-rpc: missing -m/)
    expect(await run(['--help'], io)).toBe(0)
    expect(out).toMatch(/^Usage: mbt-rpc/)
  })
})

/** Every character a terminal could act on: C0 but newline (and tab, where kept), DEL, C1. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/

describe('what a server sends is escaped before it is printed', () => {
  const HOSTILE = '\u001b]0;pwned\u0007\u001b[2J\u009b31m\u007f\r\u202eevil'

  it('escapeControls: C0, DEL, C1, bidi overrides as \\uXXXX; kept characters stay', () => {
    expect(escapeControls(HOSTILE)).toBe('\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u007f\\u000d\\u202eevil')
    expect(escapeControls('a\nb\tc', '\n')).toBe('a\nb\\u0009c')
    expect(escapeControls('plain ünïcode ✓ and "quotes"')).toBe('plain ünïcode ✓ and "quotes"')
  })

  it('an error code with control characters prints escaped, one line, and cut when huge', () => {
    const line = formatFailure({ kind: 'reply', code: HOSTILE, message: '' })
    expect(line).not.toMatch(RAW_CONTROL)
    expect(line).not.toContain('\n')
    expect(line).toContain('\\u001b]0;pwned\\u0007')
    const transport = formatFailure({ kind: 'transport', code: 'ERR_RPC_TIMEOUT', message: `x\n${HOSTILE}` })
    expect(transport.split('\n')).toHaveLength(2) // the message's own newline is escaped; the hint is ours
    expect(transport).not.toMatch(RAW_CONTROL)
    const long = formatFailure({ kind: 'reply', code: 'ERR_'.padEnd(5000, 'X'), message: '' })
    expect(long.length).toBeLessThan(300)
    expect(long).toMatch(/… \(5000 characters\)$/)
  })

  it('replies: pretty and raw output carry no raw control character, and stay the same JSON', () => {
    const value = { title: HOSTILE, list: ['\u0085', '\u001b[31mred'] }
    // raw text as a server may send it: DEL, C1 and bidi characters unescaped in strings, CR as whitespace
    const text = `{"title":${JSON.stringify(HOSTILE)},\r"list":["\u0085",${JSON.stringify('\u001b[31mred')}]}`
    expect(JSON.parse(text)).toEqual(value)
    for (const pretty of [true, false]) {
      const out = formatReply({ value, text }, pretty)
      expect(out, String(pretty)).not.toMatch(RAW_CONTROL)
      expect(out).not.toMatch(/[\u202a-\u202e]/)
      expect(JSON.parse(out)).toEqual(value)
    }
    expect(formatReply({ value: { a: [1] }, text: '{"a":[1]}' }, false)).toBe('{"a":[1]}')
  })

  it('run: a usage message quoting a file\'s text is escaped too', async () => {
    const file = path.join(dir, 'hostile.json')
    writeFileSync(file, '\u001b]0;x\u0007')
    let err = ''
    const code = await run(['-s', KEY, '-m', 'echo', '-f', file], { stdout: () => {}, stderr: (t) => { err += t }, isTTY: false })
    expect(code).toBe(2)
    expect(err).toMatch(/is not JSON/)
    expect(err).not.toMatch(RAW_CONTROL)
  })
})

describe('files the CLI reads are bounded', () => {
  it('a regular file up to MAX_INPUT_BYTES is read; one byte more is refused', () => {
    const ok = path.join(dir, 'max.json')
    writeFileSync(ok, `"${'a'.repeat(MAX_INPUT_BYTES - 2)}"`)
    expect(readInputFile(ok)).toHaveLength(MAX_INPUT_BYTES)
    const big = path.join(dir, 'big.json')
    writeFileSync(big, `"${'a'.repeat(MAX_INPUT_BYTES - 1)}"`)
    expect(() => readInputFile(big)).toThrow(InputRefused)
    expect(() => parseCommandLine(['-s', KEY, '-m', 'echo', '-f', big])).toThrow(/file .*big\.json is larger than 1048576 bytes/)
  })

  it('a folder is refused (not a regular file), for -f and --status-file', () => {
    expect(() => readInputFile(dir)).toThrow(/a directory, not a regular file/)
    expect(() => parseCommandLine(['-s', KEY, '-m', 'echo', '-f', dir])).toThrow(UsageError)
    expect(() => parseCommandLine(['--status-file', dir, '-m', 'echo'])).toThrow(/status file .* is a directory, not a regular file/)
  })

  it('a file that says size 0 but has more (procfs) is still read up to the bound', () => {
    if (process.platform !== 'linux') return
    expect(readInputFile('/proc/self/status')).toMatch(/^Name:/)
  })
})
