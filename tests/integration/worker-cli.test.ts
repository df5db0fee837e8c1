/**
 * The CLI as operators run it: `node dist/worker.js …` in a child process, talking RPC through
 * a local HyperDHT testnet. Needs `npm run build` first.
 */
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  cleanupAll,
  configPath,
  createBootstrap,
  createRpcClient,
  makeRoot,
  parseLogLines,
  processCmdline,
  spawnCli,
  spawnWorker,
  type DHTNodeAddress,
  type RpcClient,
  type SpawnedWorker,
  type WorkerStatus,
  waitFor
} from '../helpers'

const KEHUA = 'wrk-container-rack-kehua'
const HEX64 = /^[0-9a-f]{64}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let bootstrap: DHTNodeAddress[]

/** pino warnings (level 40) in a worker's stdout that mention the allow list. */
function allowWarnings (stdout: string): string[] {
  return parseLogLines(stdout)
    .filter((entry) => entry.level === 40 && /allow/.test(entry.msg ?? ''))
    .map((entry) => entry.msg ?? '')
}

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
})
afterAll(cleanupAll)

describe.concurrent('CLI refuses bad invocations (exit ≠ 0, clear stderr)', () => {
  it('unknown --wtype lists the available worker types', async ({ expect }) => {
    const cli = spawnCli(['--wtype', 'wrk-container-rack-nope', '--rack', 'r1'])
    const { code } = await cli.exited
    expect(code).not.toBe(0)
    expect(code).not.toBeNull()
    expect(cli.stderr()).toContain('wrk-container-rack-nope')
    expect(cli.stderr()).toContain('wrk-container-rack-kehua')
    expect(cli.stderr()).toContain('wrk-container-rack-wonderint')
  })

  it('a --wtype that is a path is refused, not resolved', async ({ expect }) => {
    const cli = spawnCli(['--wtype', '../../worker', '--rack', 'r1'])
    const { code } = await cli.exited
    expect(code).not.toBe(0)
    expect(cli.stderr()).toMatch(/unknown worker type/)
    expect(cli.stderr()).toContain('wrk-container-rack-kehua')
  })

  it('missing --wtype', async ({ expect }) => {
    const cli = spawnCli(['--rack', 'r1'])
    const { code } = await cli.exited
    expect(code).not.toBe(0)
    expect(cli.stderr()).toMatch(/wtype/)
  })

  it('missing --rack', async ({ expect }) => {
    const cli = spawnCli(['--wtype', KEHUA, '--env', 'development'])
    const { code } = await cli.exited
    expect(code).not.toBe(0)
    expect(cli.stderr()).toMatch(/missing required argument: rack/i)
  })

  it('an empty or unsafe --rack', async ({ expect }) => {
    const empty = spawnCli(['--wtype', KEHUA, '--rack', ' '])
    const unsafe = spawnCli(['--wtype', KEHUA, '--rack', '../escape'])
    expect((await empty.exited).code).not.toBe(0)
    expect(empty.stderr()).toMatch(/--rack must not be empty/)
    expect((await unsafe.exited).code).not.toBe(0)
    expect(unsafe.stderr()).toMatch(/--rack may contain/)
  })

  it('invalid --env names the accepted values', async ({ expect }) => {
    const cli = spawnCli(['--wtype', KEHUA, '--rack', 'r1', '--env', 'prod'])
    const { code } = await cli.exited
    expect(code).not.toBe(0)
    expect(cli.stderr()).toMatch(/env/)
    expect(cli.stderr()).toContain('production')
    expect(cli.stderr()).toContain('staging')
  })

  it('missing config/common.json → exit ≠ 0 naming the file; nothing is opened', async ({ expect }) => {
    const root = await makeRoot({ bootstrap })
    rmSync(configPath(root, 'common'))
    const w = spawnWorker({ wtype: KEHUA, rack: 'r1', root })
    const { code } = await w.exited
    expect(code).not.toBe(0)
    expect(w.stderr()).toContain(path.join(root, 'config', 'common.json'))
    expect(w.stderr()).toMatch(/missing config file/)
    // config errors surface before any facility starts
    expect(existsSync(path.join(root, 'store'))).toBe(false)
    expect(existsSync(w.statusFile)).toBe(false)
  })

  it('invalid JSON in config/common.json → exit ≠ 0 naming the file', async ({ expect }) => {
    const root = await makeRoot({ bootstrap })
    writeFileSync(configPath(root, 'common'), '{ "debug": false, }')
    const w = spawnWorker({ wtype: KEHUA, rack: 'r1', root })
    const { code } = await w.exited
    expect(code).not.toBe(0)
    expect(w.stderr()).toContain(path.join(root, 'config', 'common.json'))
    expect(w.stderr()).toMatch(/invalid JSON/)
    expect(w.stderr()).not.toMatch(/\n\s+at /) // a message, not a stack trace
  })

  it('invalid JSON in an env-specific file names that file', async ({ expect }) => {
    const root = await makeRoot({ bootstrap })
    writeFileSync(configPath(root, 'facs/net.config', 'staging'), '[')
    const w = spawnWorker({ wtype: KEHUA, rack: 'r1', root, env: 'staging' })
    const { code } = await w.exited
    expect(code).not.toBe(0)
    expect(w.stderr()).toContain(path.join(root, 'config', 'facs', 'staging.net.config.json'))
  })
})

describe('a worker says what is wrong with its configuration', () => {
  it('a misspelt key is warned about at start with the closest valid key; no reachable DHT is warned about, naming the bootstrap', async () => {
    // every bootstrap node unreachable (a closed port), and `bootstrap` misspelt beside it
    const root = await makeRoot({ bootstrap: [{ host: '127.0.0.1', port: 9 }], net: { r0: { dhtOpts: { bootstap: ['127.0.0.1:9'] } } }, baseThing: { collectSnapItvMs: 1000 } })
    const w = spawnWorker({ wtype: KEHUA, rack: 'cfg', root })
    try {
      await w.waitForStatus()
      const lines = parseLogLines(w.stdout())
      const unknown = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('unknown key'))
      expect(unknown.map((l) => [l.file, l.key, l.suggestion])).toEqual(expect.arrayContaining([
        ['facs/net.config.json', 'r0.dhtOpts.bootstap', 'bootstrap'],
        ['base.thing.json', 'collectSnapItvMs', 'collectSnapsItvMs']
      ]))
      const dht = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('no DHT node answered'))
      expect(dht, JSON.stringify(lines.map((l) => l.msg))).toBeDefined()
      expect(JSON.stringify(dht?.bootstrap)).toContain('127.0.0.1:9')
    } finally {
      await w.stop()
    }
  })
})

describe('a running worker', () => {
  let root: string
  let worker: SpawnedWorker
  let status: WorkerStatus
  let client: RpcClient

  beforeAll(async () => {
    root = await makeRoot({ bootstrap })
    worker = spawnWorker({ wtype: KEHUA, rack: 'r1', root, naturalExit: true })
    status = await worker.waitForStatus()
    client = createRpcClient(bootstrap)
  })

  it('writes status/<wtype>-<rack>.json with its RPC keys and instance id', () => {
    expect(worker.statusFile).toBe(path.join(root, 'status', `${KEHUA}-r1.json`))
    expect(status.rpcPublicKey).toMatch(HEX64)
    expect(status.rpcClientKey).toMatch(HEX64)
    expect(status.rpcClientKey).not.toBe(status.rpcPublicKey)
    expect(status.instanceId).toMatch(UUID)
  })

  it('says its version in the start log and the status file, with where its DHT is and its collection summary', () => {
    const version = (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
    const started = parseLogLines(worker.stdout()).find((l) => l.msg === 'worker started')
    expect(started).toMatchObject({ version })
    const full = JSON.parse(readFileSync(worker.statusFile, 'utf8')) as Record<string, unknown>
    expect(full).toMatchObject({ version, pid: worker.proc.pid, things: 0, failing: 0, lastCollectionAt: null })
    expect(full.dhtBootstrap).toEqual(bootstrap.map((b) => `${b.host}:${b.port}`))
    expect(typeof full.statusAt).toBe('number')
  })

  it('creates its store under <root>/store/<rack>-db', () => {
    const dir = path.join(root, 'store', 'r1-db')
    expect(existsSync(dir)).toBe(true)
    expect(readdirSync(dir).length).toBeGreaterThan(0)
  })

  it('the store is private to the worker\'s user (dirs 0700, files 0600); the status file stays 0644', async () => {
    // a write after start: files the store creates while running are private too
    expect(await client.request(status.rpcPublicKey, 'registerThing', { opts: {}, info: { pos: 'm1' } })).toBe(1)
    const wrong: string[] = []
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name)
        const mode = statSync(p).mode & 0o777
        if (mode !== (e.isDirectory() ? 0o700 : 0o600)) wrong.push(`${p} ${mode.toString(8)}`)
        if (e.isDirectory()) walk(p)
      }
    }
    walk(path.join(root, 'store'))
    expect(statSync(path.join(root, 'store')).mode & 0o777).toBe(0o700)
    expect(wrong).toEqual([])
    expect(statSync(worker.statusFile).mode & 0o777).toBe(0o644)
  })

  it('warns at start that no allow list is configured', () => {
    expect(allowWarnings(worker.stdout())).toHaveLength(1)
  })

  it('answers ping with the payload over RPC', async () => {
    expect(await client.request(status.rpcPublicKey, 'ping', { hello: 'rack', n: [1, 2, { x: null }] }))
      .toEqual({ hello: 'rack', n: [1, 2, { x: null }] })
    expect(await client.request(status.rpcPublicKey, 'ping', 'just a string')).toBe('just a string')
    expect(await client.request(status.rpcPublicKey, 'echo', 42)).toBe(42)
  })

  it('an empty payload counts as {}', async () => {
    expect(await client.requestRaw(status.rpcPublicKey, 'ping', Buffer.alloc(0))).toBe('{}')
  })

  it('getInstanceId equals the status file instanceId', async () => {
    expect(await client.request(status.rpcPublicKey, 'getInstanceId', {})).toBe(status.instanceId)
  })

  it('a payload that is not JSON → "[HRPC_ERR]=ERR_FACS_NET_DATA_FORMAT"', async () => {
    const raw = await client.requestRaw(status.rpcPublicKey, 'ping', Buffer.from('{not json'))
    expect(JSON.parse(raw)).toBe('[HRPC_ERR]=ERR_FACS_NET_DATA_FORMAT')
  })

  it('an unknown method fails the request (UNKNOWN_METHOD from @hyperswarm/rpc) and the worker keeps serving', async () => {
    await expect(client.request(status.rpcPublicKey, 'noSuchMethod', {}, 3000))
      .rejects.toMatchObject({ code: 'UNKNOWN_METHOD' })
    expect(await client.request(status.rpcPublicKey, 'ping', { still: 'alive' })).toEqual({ still: 'alive' })
    expect(worker.proc.exitCode).toBeNull()
  })

  it.runIf(process.platform === 'linux')('sets the process title to <wtype>-<rack>', () => {
    const pid = worker.proc.pid!
    const title = `${KEHUA}-r1`
    // process.title rewrites argv: `ps -o args` / /proc/<pid>/cmdline show the whole title
    expect(processCmdline(pid)).toBe(title)
    // the kernel's task name (/proc/<pid>/comm, `ps -o comm`) keeps only the first 15 bytes
    expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe(title.slice(0, 15))
  })

  it('SIGTERM → graceful stop, exits by itself with code 0 (no handle left open)', async () => {
    const started = Date.now()
    // naturalExit: the CLI's process.exit(0) is neutralised, so only a clean stop ends the process
    expect(await worker.stop('SIGTERM', 5000)).toBe(0)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(worker.stdout()).toMatch(/worker stopping/)
    expect(parseLogLines(worker.stdout()).filter((l) => l.msg === 'worker stopped')).toHaveLength(1)
    expect(worker.stderr()).not.toMatch(/natural-exit|unhandled rejection|error while stopping/)
  })

  describe('restarted on the same root', () => {
    let again: SpawnedWorker
    let status2: WorkerStatus

    beforeAll(async () => {
      again = spawnWorker({ wtype: KEHUA, rack: 'r1', root, naturalExit: true })
      status2 = await again.waitForStatus()
    })

    it('keeps rpcPublicKey and rpcClientKey, gets a new instanceId', () => {
      expect(status2.rpcPublicKey).toBe(status.rpcPublicKey)
      expect(status2.rpcClientKey).toBe(status.rpcClientKey)
      expect(status2.instanceId).toMatch(UUID)
      expect(status2.instanceId).not.toBe(status.instanceId)
    })

    it('answers at the same key with the new instance id', async () => {
      expect(await client.request(status.rpcPublicKey, 'getInstanceId', {})).toBe(status2.instanceId)
    })

    it('SIGINT → graceful stop, exits by itself with code 0', async () => {
      expect(await again.stop('SIGINT', 5000)).toBe(0)
      expect(again.stdout()).toMatch(/worker stopping/)
      expect(again.stderr()).not.toMatch(/natural-exit|unhandled rejection|error while stopping/)
    })
  })
})

describe('the RPC firewall (r0.allow / r0.allowReadOnly)', () => {
  const readOnlySeed = Buffer.alloc(32, 7)
  const fullSeed = Buffer.alloc(32, 9)
  let worker: SpawnedWorker
  let status: WorkerStatus
  let readOnly: RpcClient
  let full: RpcClient

  beforeAll(async () => {
    readOnly = createRpcClient(bootstrap, { seed: readOnlySeed })
    full = createRpcClient(bootstrap, { seed: fullSeed })
    const root = await makeRoot({
      bootstrap,
      // upper case on purpose: keys are compared case-insensitively
      net: { r0: { allow: [full.publicKey.toUpperCase()], allowReadOnly: [readOnly.publicKey] } }
    })
    worker = spawnWorker({ wtype: KEHUA, rack: 'fw', root, extraArgs: ['--debug'] })
    status = await worker.waitForStatus()
  })

  it('a seeded client has a stable, known key', () => {
    expect(createRpcClient(bootstrap, { seed: readOnlySeed }).publicKey).toBe(readOnly.publicKey)
    expect(readOnly.publicKey).toMatch(HEX64)
    expect(readOnly.publicKey).not.toBe(full.publicKey)
  })

  it('does not warn about a missing allow list', () => {
    expect(allowWarnings(worker.stdout())).toEqual([])
  })

  it('a read-only key may call read methods', async () => {
    expect(await readOnly.request(status.rpcPublicKey, 'ping', { ro: true })).toEqual({ ro: true })
    expect(await readOnly.request(status.rpcPublicKey, 'getInstanceId', {})).toBe(status.instanceId)
  })

  it('a full-access key may call', async () => {
    expect(await full.request(status.rpcPublicKey, 'ping', { full: true })).toEqual({ full: true })
  })

  it('a key in neither list is refused at connection time', async () => {
    const stranger = createRpcClient(bootstrap)
    await expect(stranger.request(status.rpcPublicKey, 'ping', {}, 2000)).rejects.toThrow()
    // the worker is unaffected
    expect(await readOnly.request(status.rpcPublicKey, 'ping', 1)).toBe(1)
    // and says whom it refused (debug level)
    const refused = await waitFor(() => parseLogLines(worker.stdout()).find((l) => l.msg?.startsWith('rpc peer refused') === true && l.peer === stranger.publicKey), 5000, 50)
    expect(refused.peer).toBe(stranger.publicKey)
    await stranger.close()
  })

  it('a read-only key\'s write is refused and logged at debug with the caller\'s key', async () => {
    expect(await readOnly.request(status.rpcPublicKey, 'registerThing', { opts: {} })).toBe('[HRPC_ERR]=ERR_PERMISSION_DENIED')
    // the log line travels on the worker's stdout, the reply over RPC: either may come first
    const line = await waitFor(() => parseLogLines(worker.stdout()).find((l) => l.msg?.startsWith('rpc write refused') === true) as { caller?: string } | undefined, 5000, 50)
    expect(line.caller).toBe(readOnly.publicKey)
  })

  it('stops with code 0 on SIGTERM (the CLI\'s own exit path)', async () => {
    expect(await worker.stop('SIGTERM', 5000)).toBe(0)
  })
})
