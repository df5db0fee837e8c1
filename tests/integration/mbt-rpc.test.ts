/**
 * `mbt-rpc` (the package's bin, dist/workers/cli/mbt-rpc.js) as operators run it: a child
 * process talking to a real worker on a loopback HyperDHT testnet. Replies on stdout (raw when
 * piped), `[HRPC_ERR]` → exit 1 with the code on stderr, usage errors → exit 2 before anything
 * is sent, keys from -s, --status-file and --rack, the client seed (--ds) against an allow list,
 * and a process that ends by itself; a hostile server's control characters printed escaped, and
 * file inputs that never end (/dev/zero, a FIFO, an endless standard input) refused at once.
 * Needs `npm run build` first.
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import HyperDHT from 'hyperdht'
import RPC from '@hyperswarm/rpc'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../workers/cli/rpc'
import {
  REPO_ROOT, cleanupAll, createBootstrap, makeRoot, spawnWorker,
  type DHTNodeAddress, type WorkerStatus
} from '../helpers'

const BIN = path.join(REPO_ROOT, 'dist', 'workers', 'cli', 'mbt-rpc.js')
const KEHUA = 'wrk-container-rack-kehua'

interface CliResult { code: number | null, stdout: string, stderr: string, ms: number }

/** Runs the built CLI with piped stdio (so stdout is not a terminal); `stdinFd`: standard input from that file instead. */
function mbtRpc (args: string[], opts: { cwd?: string, stdin?: string, stdinFd?: number, timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` before the tests`)
  const started = Date.now()
  const env = { ...process.env, MBT_RPC_SEED: '', MBT_RPC_SEED_FILE: '', ...opts.env }
  const proc = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env, stdio: [opts.stdinFd ?? 'pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // a large standard input may not all be read (the CLI stops at its bound): no EPIPE noise
  proc.stdin?.on('error', () => {})
  proc.stdin?.end(opts.stdin ?? '')
  // a CLI that hangs (an open handle) fails the test instead of the suite's timeout
  const kill = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 20_000)
  return new Promise((resolve) => {
    proc.on('exit', (code) => {
      clearTimeout(kill)
      resolve({ code, stdout, stderr, ms: Date.now() - started })
    })
  })
}

let bootstrap: DHTNodeAddress[]
let bn: string
let root: string
let status: WorkerStatus
let statusFile: string

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  bn = bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  root = await makeRoot({ bootstrap })
  const worker = spawnWorker({ wtype: KEHUA, rack: 'cli', root })
  status = await worker.waitForStatus()
  statusFile = worker.statusFile
}, 30_000)
afterAll(cleanupAll)

describe('mbt-rpc against a running worker', () => {
  it('prints the reply raw when piped, exits 0, and ends by itself', async () => {
    const r = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'ping', '-d', '{"hello":"rack","n":[1,{"x":null}]}'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    // exactly the reply text the worker sent, one line
    expect(r.stdout).toBe('{"hello":"rack","n":[1,{"x":null}]}\n')
    // a clean close: no handle keeps the process alive (the kill timer would give code null)
    expect(r.ms).toBeLessThan(15_000)
  })

  it('registers a thing and lists it (-d), pretty with --pretty', async () => {
    const reg = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'registerThing', '-d', JSON.stringify({ opts: {}, info: { container: 'bay-1', pos: 'A1' }, tags: ['row-a'] })])
    expect(reg.stderr).toBe('')
    expect(reg.stdout).toBe('1\n')
    const list = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'listThings', '-d', '{"query":{"tags":"row-a"},"fields":{"code":1,"tags":1}}'])
    expect(list.code).toBe(0)
    expect(list.stdout.trim().split('\n')).toHaveLength(1)
    const items = JSON.parse(list.stdout) as Array<{ code: string, tags: string[] }>
    expect(items).toHaveLength(1)
    expect(items[0].code).toBe('MBT-KEHUA-0001')
    expect(items[0].tags).toContain('pos-A1')
    const pretty = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'listThings', '-d', '{"fields":{"code":1}}', '--pretty'])
    expect(pretty.stdout).toBe(JSON.stringify(JSON.parse(pretty.stdout), null, 2) + '\n')
    expect(pretty.stdout.split('\n').length).toBeGreaterThan(3)
  })

  it('pretty-prints on a terminal (the same code path, stdout a TTY)', async () => {
    let out = ''
    const code = await run(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'getRack'], { stdout: (t) => { out += t }, stderr: () => {}, isTTY: true })
    expect(code).toBe(0)
    expect(out).toBe(JSON.stringify({ id: 'container-mbt-kehua-cli', rpcPubKey: status.rpcPublicKey }, null, 2) + '\n')
  })

  it('[HRPC_ERR] reply → exit 1, the code on stderr, nothing on stdout', async () => {
    const r = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'queryThing', '-d', '{"id":"nope","method":"getSnap"}'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^ERR_THING_NOTFOUND\b/)
    const unknown = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'noSuchMethod'])
    expect(unknown.code).toBe(1)
    expect(unknown.stdout).toBe('')
    expect(unknown.stderr).toMatch(/^ERR_METHOD_INVALID: the worker serves no method noSuchMethod; valid methods: ping, echo, .*\blistThings\b.*\bgetLinkHealth\b/)
  })

  it('next to a worker no --bn is needed: --rack and --status-file take the bootstrap the worker wrote, or its config', async () => {
    const byRack = await mbtRpc(['--root', root, '--rack', `${KEHUA}-cli`, '-m', 'getInstanceId'])
    expect(byRack.stderr).toBe('')
    expect(JSON.parse(byRack.stdout)).toBe(status.instanceId)
    const byFile = await mbtRpc(['--status-file', statusFile, '-m', 'getInstanceId'])
    expect(JSON.parse(byFile.stdout)).toBe(status.instanceId)
    // a status file of an older worker (no dhtBootstrap): config/facs/net.config.json of its root
    const { dhtBootstrap: _gone, ...older } = JSON.parse(readFileSync(statusFile, 'utf8')) as Record<string, unknown>
    writeFileSync(path.join(root, 'status', 'older-cli.json'), JSON.stringify(older))
    const byConfig = await mbtRpc(['--root', root, '--rack', 'older-cli', '-m', 'getInstanceId'])
    expect(byConfig.stderr).toBe('')
    expect(JSON.parse(byConfig.stdout)).toBe(status.instanceId)
  })

  it('--table (the default on a terminal for listThings): one line per thing under a count line, within 80 columns', async () => {
    const r = await mbtRpc(['--status-file', statusFile, '-m', 'listThings', '--table'])
    expect(r.stderr).toBe('')
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^1 thing: 1 (unknown|offline); [01] failing$/)
    expect(lines[1]).toMatch(/^ID +CODE +CONTAINER +STATUS +kW +ALERTS +ERROR +AGE$/)
    expect(lines[2]).toMatch(/MBT-KEHUA-0001 +bay-1 /)
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80)
    let out = ''
    expect(await run(['--status-file', statusFile, '-m', 'listThings'], { stdout: (t) => { out += t }, stderr: () => {}, isTTY: true })).toBe(0)
    expect(out.split('\n')[1]).toMatch(/^ID +CODE/)
    // a method without a table: JSON, and a note on stderr
    const none = await mbtRpc(['--status-file', statusFile, '-m', 'getInstanceId', '--table'])
    expect(JSON.parse(none.stdout)).toBe(status.instanceId)
    expect(none.stderr).toMatch(/no table for getInstanceId/)
  })

  it('a reader that goes away (| head -c 10) ends it quietly with 0', async () => {
    const file = path.join(root, 'big.json')
    // ~800 kB of reply, far more than a pipe holds (strings are bounded to 64 KiB each)
    writeFileSync(file, JSON.stringify({ pad: Array.from({ length: 8000 }, () => 'x'.repeat(100)) }))
    const script = `set -o pipefail; ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} --status-file ${JSON.stringify(statusFile)} -m echo -f ${JSON.stringify(file)} | head -c 10`
    // not spawnSync: the test's DHT bootstrap node runs in this process
    const sh = spawn('bash', ['-c', script], { env: { ...process.env, MBT_RPC_SEED: '' } })
    let stdout = ''
    let stderr = ''
    sh.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    sh.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const code = await new Promise<number | null>((resolve) => sh.on('exit', resolve))
    expect(stderr).toBe('')
    expect(stdout).toBe('{"pad":["x')
    expect(code).toBe(0)
  })

  it('--version prints the package version', async () => {
    const r = await mbtRpc(['--version'])
    expect(r.code).toBe(0)
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version
    expect(r.stdout).toBe(`mbt-rpc ${version}\n`)
  })

  it('--status-file reads the key from the worker\'s status file', async () => {
    const r = await mbtRpc(['--bn', bn, '--status-file', statusFile, '-m', 'getRack'])
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({ id: 'container-mbt-kehua-cli', rpcPubKey: status.rpcPublicKey })
  })

  it('--rack <wtype>-<rack> finds status/<name>.json under --root, or under the current directory', async () => {
    const withRoot = await mbtRpc(['--bn', bn, '--root', root, '--rack', `${KEHUA}-cli`, '-m', 'getInstanceId'])
    expect(withRoot.stderr).toBe('')
    expect(JSON.parse(withRoot.stdout)).toBe(status.instanceId)
    const inCwd = await mbtRpc(['--bn', bn, '--rack', `${KEHUA}-cli`, '-m', 'getInstanceId'], { cwd: root })
    expect(JSON.parse(inCwd.stdout)).toBe(status.instanceId)
  })

  it('-f reads the request from a file, or from standard input with -f -', async () => {
    const file = path.join(root, 'req.json')
    writeFileSync(file, '{"via":"file"}')
    const fromFile = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'echo', '-f', file])
    expect(fromFile.stdout).toBe('{"via":"file"}\n')
    const fromStdin = await mbtRpc(['--bn', bn, '-s', status.rpcPublicKey, '-m', 'echo', '-f', '-'], { stdin: '{"via":"stdin"}' })
    expect(fromStdin.stdout).toBe('{"via":"stdin"}\n')
  })

  it('no reply (nobody serves the key) → exit 1 with an ERR_RPC_* code and a hint, within -t', async () => {
    const r = await mbtRpc(['--bn', bn, '-s', randomBytes(32).toString('hex'), '-m', 'ping', '-t', '3000'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^ERR_RPC_(TIMEOUT|CONNECT_FAILED): /)
    expect(r.stderr).toMatch(/hint: is the worker running/)
    expect(r.ms).toBeLessThan(10_000)
  })
})

describe('mbt-rpc usage errors: exit 2, nothing sent', () => {
  const key = 'a'.repeat(64)
  const cases: Array<[string, string[], RegExp]> = [
    ['missing -m', ['-s', key], /missing -m/],
    ['no key at all', ['-m', 'ping'], /no server key/],
    ['a key that is not 64 hex characters', ['-s', 'abc', '-m', 'ping'], /64 hex/],
    ['two key sources', ['-s', key, '--rack', 'x-y', '-m', 'ping'], /one of -s, --status-file, --rack/],
    ['bad JSON in -d', ['-s', key, '-m', 'ping', '-d', '{bad'], /-d is not JSON/],
    ['both -d and -f', ['-s', key, '-m', 'ping', '-d', '{}', '-f', 'x.json'], /either -d or -f/],
    ['an unreadable -f file', ['-s', key, '-m', 'ping', '-f', '/nonexistent/req.json'], /cannot read file \/nonexistent\/req\.json \(ENOENT\)/],
    ['a missing status file', ['--status-file', '/nonexistent/status.json', '-m', 'ping'], /cannot read status file/],
    ['a --rack name with a path in it', ['--rack', '../etc/passwd', '-m', 'ping'], /--rack .*expected <wtype>-<rack>/],
    ['a bad --bn', ['-s', key, '-m', 'ping', '--bn', 'localhost'], /--bn localhost: expected host:port/],
    ['a bad --ds', ['-s', key, '-m', 'ping', '--ds', 'xyz'], /--ds: a seed is 64 hex/],
    ['a bad -t', ['-s', key, '-m', 'ping', '-t', 'soon'], /-t: a timeout in ms/],
    ['an unknown flag', ['-s', key, '-m', 'ping', '--nope'], /Unknown option '--nope'/]
  ]
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const r = await mbtRpc(args)
      expect(r.code, r.stderr).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(message)
      expect(r.stderr).toContain('mbt-rpc --help')
    })
  }

  it('a status file without rpcPublicKey, and one that is not readable', async () => {
    const bad = path.join(root, 'bad-status.json')
    writeFileSync(bad, '{"instanceId":"x"}')
    const r = await mbtRpc(['--status-file', bad, '-m', 'ping'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/has no rpcPublicKey/)
    if (process.getuid?.() !== 0) { // root reads any file
      const locked = path.join(root, 'locked.json')
      writeFileSync(locked, '{}')
      chmodSync(locked, 0o000)
      const denied = await mbtRpc(['-s', key, '-m', 'ping', '-f', locked])
      expect(denied.code).toBe(2)
      expect(denied.stderr).toMatch(/EACCES/)
    }
  })

  it('--rack with a missing status file lists the status files that are there', async () => {
    const r = await mbtRpc(['--root', root, '--rack', `${KEHUA}-nope`, '-m', 'ping'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`status files in ${path.join(root, 'status')}: `)
    expect(r.stderr).toContain(`${KEHUA}-cli`)
  })

  it('--help prints the usage and exits 0', async () => {
    const r = await mbtRpc(['--help'])
    expect(r.code).toBe(0)
    for (const flag of ['-s', '-m', '-d', '-f', '-t', '--bn', '--ds', '--status-file', '--rack', '--root']) expect(r.stdout).toContain(flag)
  })
})

describe('mbt-rpc --ds (a stable client key for an allow list)', () => {
  it('a worker that allows one key answers the client with that seed, and not a random client', async () => {
    const seed = randomBytes(32)
    const clientKey = HyperDHT.keyPair(seed).publicKey.toString('hex')
    const allowRoot = await makeRoot({ bootstrap, net: { r0: { allow: [clientKey] } } })
    const w = spawnWorker({ wtype: KEHUA, rack: 'allow', root: allowRoot })
    const { rpcPublicKey } = await w.waitForStatus()
    const allowed = await mbtRpc(['--bn', bn, '-s', rpcPublicKey, '--ds', seed.toString('hex'), '-m', 'ping', '-d', '{"ok":1}'])
    expect(allowed.stderr).toBe('')
    expect(allowed.stdout).toBe('{"ok":1}\n')
    const refused = await mbtRpc(['--bn', bn, '-s', rpcPublicKey, '-m', 'ping', '-t', '3000'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^ERR_RPC_/)
    // the seed kept out of argv: a 0600 file (--seed-file or MBT_RPC_SEED_FILE), or MBT_RPC_SEED
    const seedFile = path.join(allowRoot, 'client.seed')
    writeFileSync(seedFile, seed.toString('hex') + '\n', { mode: 0o600 })
    chmodSync(seedFile, 0o600)
    const byFile = await mbtRpc(['--bn', bn, '-s', rpcPublicKey, '--seed-file', seedFile, '-m', 'ping', '-d', '{"f":1}'])
    expect(byFile.stderr).toBe('')
    expect(byFile.stdout).toBe('{"f":1}\n')
    const byEnvFile = await mbtRpc(['--bn', bn, '-s', rpcPublicKey, '-m', 'ping', '-d', '{"e":1}'], { env: { MBT_RPC_SEED_FILE: seedFile } })
    expect(byEnvFile.stdout).toBe('{"e":1}\n')
    const byEnv = await mbtRpc(['--bn', bn, '-s', rpcPublicKey, '-m', 'ping', '-d', '{"v":1}'], { env: { MBT_RPC_SEED: seed.toString('hex') } })
    expect(byEnv.stdout).toBe('{"v":1}\n')
    chmodSync(seedFile, 0o644)
    const open = await mbtRpc(['--bn', bn, '-s', rpcPublicKey, '--seed-file', seedFile, '-m', 'ping'])
    expect(open.code).toBe(2)
    expect(open.stdout).toBe('')
    expect(open.stderr).toContain(`seed file ${seedFile} is open to group or others (mode 0644); a seed is a secret: chmod 600 ${seedFile}`)
    expect(open.stderr).not.toContain(seed.toString('hex'))
    expect(await w.stop()).toBe(0)
  }, 60_000)
})

/** Every character a terminal could act on: C0 but newline, DEL, C1. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/
const TITLE_AND_CLEAR = '\u001b]0;pwned by the server\u0007\u001b[2J'

/**
 * A server that answers what the worker never would: an error code, a message and values full of
 * terminal control sequences, and raw escape bytes (not JSON at all).
 */
async function startHostileServer (): Promise<{ key: string, close: () => Promise<void> }> {
  const dht = new HyperDHT({ bootstrap, host: '127.0.0.1' })
  await dht.ready()
  const keyPair = HyperDHT.keyPair()
  const rpc = new RPC({ dht, keyPair })
  const server = rpc.createServer()
  server.respond('code', () => Buffer.from(JSON.stringify(`[HRPC_ERR]=${TITLE_AND_CLEAR}`)))
  // JSON.stringify escapes C0 (the client's pretty output re-serialises); DEL, C1 and bidi stay raw in the text
  server.respond('value', () => Buffer.from(JSON.stringify({ title: TITLE_AND_CLEAR, c1: '\u009b2J\u0085', del: '\u007f', bidi: '\u202eevil' }) + '\r'))
  server.respond('raw', () => Buffer.from('\u001b]0;raw\u0007\u001b[2J'))
  server.respond('throws', () => { throw Object.assign(new Error(`boom ${TITLE_AND_CLEAR}`), { code: TITLE_AND_CLEAR }) })
  await server.listen(keyPair)
  const close = async (): Promise<void> => {
    await server.close()
    await rpc.destroy({ force: true })
    await dht.destroy({ force: true })
  }
  return { key: keyPair.publicKey.toString('hex'), close }
}

describe('mbt-rpc against a hostile server: control characters are printed escaped', () => {
  let hostile: { key: string, close: () => Promise<void> }
  beforeAll(async () => { hostile = await startHostileServer() })
  afterAll(async () => { await hostile?.close() })

  it('an [HRPC_ERR] code that sets the title and clears the screen → exit 1, the code escaped on one line', async () => {
    const r = await mbtRpc(['--bn', bn, '-s', hostile.key, '-m', 'code'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).not.toMatch(RAW_CONTROL)
    expect(r.stderr).toBe('\\u001b]0;pwned by the server\\u0007\\u001b[2J\n')
  })

  it('values with control characters: raw (piped) and pretty (terminal) output escaped, still the same JSON', async () => {
    const expected = { title: TITLE_AND_CLEAR, c1: '\u009b2J\u0085', del: '\u007f', bidi: '\u202eevil' }
    const raw = await mbtRpc(['--bn', bn, '-s', hostile.key, '-m', 'value'])
    expect(raw.stderr).toBe('')
    expect(raw.code).toBe(0)
    expect(raw.stdout).not.toMatch(RAW_CONTROL)
    expect(raw.stdout).not.toContain('\u202e')
    expect(JSON.parse(raw.stdout)).toEqual(expected)
    let out = ''
    const code = await run(['--bn', bn, '-s', hostile.key, '-m', 'value'], { stdout: (t) => { out += t }, stderr: () => {}, isTTY: true })
    expect(code).toBe(0)
    expect(out).not.toMatch(RAW_CONTROL)
    expect(out.split('\n').length).toBeGreaterThan(3)
    expect(JSON.parse(out)).toEqual(expected)
  })

  it('a reply of raw escape bytes, and a server error whose message and code carry them → exit 1, nothing raw printed', async () => {
    for (const method of ['raw', 'throws']) {
      const r = await mbtRpc(['--bn', bn, '-s', hostile.key, '-m', method, '-t', '5000'])
      expect(r.code, method).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr, method).toMatch(/^ERR_\w+/)
      expect(r.stderr, method).not.toMatch(RAW_CONTROL)
    }
  })
})

describe('mbt-rpc file inputs are bounded: what never ends is refused at once (exit 2)', () => {
  const key = 'a'.repeat(64)

  it('-f /dev/zero and --status-file /dev/zero: a character device, not a regular file', async () => {
    const dev = await mbtRpc(['--bn', bn, '-s', key, '-m', 'echo', '-f', '/dev/zero'], { timeoutMs: 10_000 })
    expect(dev.code, dev.stderr).toBe(2)
    expect(dev.stderr).toMatch(/^mbt-rpc: file \/dev\/zero is a character device, not a regular file/)
    expect(dev.ms).toBeLessThan(5000)
    const status = await mbtRpc(['--bn', bn, '--status-file', '/dev/zero', '-m', 'echo'], { timeoutMs: 10_000 })
    expect(status.code, status.stderr).toBe(2)
    expect(status.stderr).toMatch(/status file \/dev\/zero is a character device, not a regular file/)
  })

  it('-f <a FIFO nobody writes to> does not wait for a writer', async () => {
    const fifo = path.join(root, 'req.fifo')
    execFileSync('mkfifo', [fifo])
    const r = await mbtRpc(['--bn', bn, '-s', key, '-m', 'echo', '-f', fifo], { timeoutMs: 10_000 })
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(/is a FIFO \(named pipe\), not a regular file \(give a regular file, or -f - for standard input\)/)
    expect(r.ms).toBeLessThan(5000)
  })

  it('-f - with an endless or too large standard input stops at 1 MiB', async () => {
    const zero = openSync('/dev/zero', 'r')
    try {
      const endless = await mbtRpc(['--bn', bn, '-s', key, '-m', 'echo', '-f', '-'], { stdinFd: zero, timeoutMs: 10_000 })
      expect(endless.code, endless.stderr).toBe(2)
      expect(endless.stderr).toMatch(/standard input is larger than 1048576 bytes/)
      expect(endless.ms).toBeLessThan(5000)
    } finally {
      closeSync(zero)
    }
    const big = await mbtRpc(['--bn', bn, '-s', key, '-m', 'echo', '-f', '-', '-t', '2000'], { stdin: JSON.stringify('x'.repeat(2 * 1024 * 1024)) })
    expect(big.code, big.stderr).toBe(2)
    expect(big.stderr).toMatch(/standard input is larger than/)
  })
})
