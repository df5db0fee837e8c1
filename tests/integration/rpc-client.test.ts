/**
 * The shared RPC client (workers/rpc/client.ts) against a bare `@hyperswarm/rpc` server on
 * a loopback testnet: replies and error replies, bounded timeouts with named codes, each request
 * delivered exactly once even when connecting is slow, and a close() that releases what the
 * client made and nothing else. Also the net facility's outgoing calls, which use it.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import HyperDHT, { type KeyPair } from 'hyperdht'
import RPC, { type Server } from '@hyperswarm/rpc'
import { RpcClient, type RpcClientOptions } from '../../workers/rpc/client'
import { RpcReplyError, decodeRequest, encodeError, encodeResult } from '../../workers/rpc/codec'
import { errorCode } from '../../workers/core/errors'
import { NetFacility } from '../../workers/facs/net'
import { silentLogger } from '../../workers/core/types'
import { REPO_ROOT, cleanupAll, createBootstrap, sleep, waitFor, withTimeout, type DHTNodeAddress } from '../helpers'

let bootstrap: DHTNodeAddress[]

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
})

interface TestServer {
  /** Server key, hex. */
  key: string
  keyPair: KeyPair
  /** Requests received per method. */
  received: Map<string, number>
  /** Caller keys (hex) in order of the requests. */
  callers: string[]
  /** Connections the firewall was asked about. */
  handshakes: number
  listen: () => Promise<void>
  close: () => Promise<void>
}

const servers = new Set<TestServer>()
const clients = new Set<RpcClient>()

afterEach(async () => {
  for (const c of clients) await c.close()
  clients.clear()
  for (const s of servers) await s.close()
  servers.clear()
})

afterAll(cleanupAll)

/**
 * A bare server speaking the codec: `echo`, `fail` (an error reply), `nothing` (undefined),
 * `garbage` (a reply that is not JSON), `silent` (never answers). `stallFirstMs` holds the first
 * connection's handshake in the firewall for that long (a slow first connect).
 */
async function startServer (opts: { listen?: boolean, stallFirstMs?: number } = {}): Promise<TestServer> {
  const keyPair = HyperDHT.keyPair()
  const dht = new HyperDHT({ bootstrap, host: '127.0.0.1' })
  const rpc = new RPC({ dht, keyPair })
  const s: TestServer = {
    key: keyPair.publicKey.toString('hex'),
    keyPair,
    received: new Map(),
    callers: [],
    handshakes: 0,
    listen: async () => { await server.listen() },
    close: async () => {
      servers.delete(s)
      await server.close()
      await rpc.destroy({ force: true })
      await dht.destroy({ force: true })
    }
  }
  const server: Server = rpc.createServer({
    firewall: async () => {
      s.handshakes++
      if (s.handshakes === 1 && opts.stallFirstMs) await sleep(opts.stallFirstMs)
      return false
    }
  })
  const on = (method: string, fn: (req: unknown) => Buffer | Promise<Buffer>): void => {
    server.respond(method, (req, conn) => {
      s.received.set(method, (s.received.get(method) ?? 0) + 1)
      s.callers.push(conn.stream.remotePublicKey.toString('hex'))
      return fn(decodeRequest(req))
    })
  }
  on('echo', (req) => encodeResult(req))
  on('fail', () => encodeError('ERR_THING_NOTFOUND'))
  on('nothing', () => encodeResult(undefined))
  on('garbage', () => Buffer.from('{"half": '))
  on('silent', () => new Promise<Buffer>(() => {}))
  servers.add(s)
  if (opts.listen !== false) await s.listen()
  return s
}

function client (opts: RpcClientOptions = { bootstrap, host: '127.0.0.1' }): RpcClient {
  const c = new RpcClient(opts)
  clients.add(c)
  return c
}

/** The settled outcome of a promise, with how long it took. */
async function outcome (promise: Promise<unknown>): Promise<{ ms: number, value?: unknown, err?: Error & { code?: string } }> {
  const started = Date.now()
  try {
    const value = await promise
    return { ms: Date.now() - started, value }
  } catch (err) {
    return { ms: Date.now() - started, err: err as Error & { code?: string } }
  }
}

/**
 * Run by a child `node` (the client's TypeScript transpiled on load): a testnet, a server, the
 * client on its own DHT with a connect in flight at close(), then the client on an injected DHT.
 * Everything is closed and the process must end by itself; one still alive 2 s later prints
 * STILL_ALIVE with the resources it can see (not UDP sockets) and exits 2.
 */
const CLOSE_SCENARIO = `
const fs = require('node:fs')
const ts = require('typescript')
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), {
  fileName: file, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }
}).outputText, file)
const { RpcClient } = require('./workers/rpc/client.ts')
const createTestnet = require('hyperdht/testnet')
const HyperDHT = require('hyperdht')
const RPC = require('@hyperswarm/rpc')
;(async () => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const opts = { bootstrap: testnet.bootstrap, host: '127.0.0.1' }
  const sdht = new HyperDHT(opts)
  const srpc = new RPC({ dht: sdht })
  const server = srpc.createServer()
  server.respond('echo', (req) => req)
  await server.listen()
  const key = srpc.defaultKeyPair.publicKey
  const result = {}

  const own = new RpcClient({ ...opts, connectAttempts: 100 })
  result.own = await own.request(key, 'echo', 'hi')
  const inFlight = own.request(HyperDHT.keyPair().publicKey, 'echo', {}, { timeoutMs: 20000 }).catch((err) => err.code)
  await new Promise((resolve) => setTimeout(resolve, 500))
  await own.close()
  result.inFlight = await inFlight

  const dht = new HyperDHT(opts)
  const injected = new RpcClient({ dht })
  result.injected = await injected.request(key, 'echo', 'hi')
  await injected.close()
  result.injectedDestroyed = dht.destroyed
  await dht.destroy()

  await server.close()
  await srpc.destroy()
  await sdht.destroy()
  await testnet.destroy()
  console.log(JSON.stringify(result))
  setTimeout(() => {
    console.log('STILL_ALIVE ' + JSON.stringify(process.getActiveResourcesInfo()))
    process.exit(2)
  }, 2000).unref()
})().catch((err) => { console.error(err); process.exitCode = 1 })
`

describe('RpcClient', () => {
  it('sends JSON and resolves with the decoded reply; the server sees the client key as caller', async () => {
    const s = await startServer()
    const c = client()
    expect(await c.request(s.key, 'echo', { a: 1, b: ['x', null] })).toEqual({ a: 1, b: ['x', null] })
    expect(await c.request(Buffer.from(s.key, 'hex'), 'echo', 'text')).toBe('text')
    expect(await c.request(s.key, 'echo')).toEqual({})
    expect(await c.request(s.key, 'nothing', {})).toBeNull()
    expect(await c.requestRaw(s.key, 'echo', Buffer.from('{"raw":true}'))).toBe('{"raw":true}')
    expect(await c.requestRaw(s.key, 'echo', Buffer.alloc(0))).toBe('{}')
    expect(c.publicKey).toMatch(/^[0-9a-f]{64}$/)
    expect(new Set(s.callers)).toEqual(new Set([c.publicKey]))
    // a seed gives a stable caller key
    const seed = randomBytes(32)
    expect(client({ bootstrap, host: '127.0.0.1', seed }).publicKey).toBe(client({ bootstrap, host: '127.0.0.1', seed }).publicKey)
  })

  it('an [HRPC_ERR]= reply rejects with RpcReplyError carrying the code; requestRaw returns it as text', async () => {
    const s = await startServer()
    const c = client()
    const { err } = await outcome(c.request(s.key, 'fail', {}))
    expect(err).toBeInstanceOf(RpcReplyError)
    expect(err).toMatchObject({ code: 'ERR_THING_NOTFOUND' })
    expect(errorCode(err)).toBe('ERR_THING_NOTFOUND')
    expect(await c.requestRaw(s.key, 'fail', Buffer.from('{}'))).toBe('"[HRPC_ERR]=ERR_THING_NOTFOUND"')
  })

  it('a reply that is not JSON → ERR_RPC_REPLY_INVALID; an unknown method keeps @hyperswarm/rpc\'s UNKNOWN_METHOD', async () => {
    const s = await startServer()
    const c = client()
    await expect(c.request(s.key, 'garbage', {})).rejects.toMatchObject({ code: 'ERR_RPC_REPLY_INVALID' })
    await expect(c.request(s.key, 'noSuchMethod', {})).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' })
    expect(await c.request(s.key, 'echo', 1)).toBe(1)
  })

  it('an invalid key is refused before anything is sent', async () => {
    const c = client()
    for (const key of ['abc', 'zz'.repeat(32), Buffer.alloc(31)]) {
      await expect(c.request(key, 'echo', {})).rejects.toMatchObject({ code: 'ERR_RPC_KEY_INVALID' })
    }
  })

  it('a key nobody serves: bounded by the timeout, rejects with a named code', async () => {
    const nobody = HyperDHT.keyPair().publicKey
    // default attempts: the DHT quickly says the peer is not there, every attempt → connect failed
    const failed = await outcome(client().request(nobody, 'echo', {}, { timeoutMs: 3000 }))
    expect(failed.err).toMatchObject({ code: 'ERR_RPC_CONNECT_FAILED' })
    expect(failed.err?.message).toContain('after 3 attempts')
    expect(failed.ms).toBeLessThan(3000 + 500)
    // more attempts than fit in the timeout: the request gives up at its deadline
    const timedOut = await outcome(client({ bootstrap, host: '127.0.0.1', connectAttempts: 100 }).request(nobody, 'echo', {}, { timeoutMs: 1200 }))
    expect(timedOut.err).toMatchObject({ code: 'ERR_RPC_TIMEOUT' })
    expect(timedOut.ms).toBeGreaterThanOrEqual(1150)
    expect(timedOut.ms).toBeLessThan(1200 + 500)
  })

  it('a stalled connect and a server that never answers are both bounded by the request timeout', async () => {
    const stalled = await startServer({ stallFirstMs: 3000 })
    const c = client({ bootstrap, host: '127.0.0.1', connectTimeoutMs: 5000 })
    const slow = await outcome(c.request(stalled.key, 'echo', {}, { timeoutMs: 800 }))
    expect(slow.err).toMatchObject({ code: 'ERR_RPC_TIMEOUT' })
    expect(slow.ms).toBeLessThan(800 + 500)

    const s = await startServer()
    const silent = await outcome(c.request(s.key, 'silent', {}, { timeoutMs: 800 }))
    expect(silent.err).toMatchObject({ code: 'ERR_RPC_TIMEOUT' })
    expect(silent.ms).toBeLessThan(800 + 500)
    expect(s.received.get('silent')).toBe(1)
    // the open channel stays usable
    expect(await c.request(s.key, 'echo', 'after', { timeoutMs: 2000 })).toBe('after')
  })

  it('a stalled first connect is retried on a fresh connection and the request arrives exactly once', async () => {
    const s = await startServer({ stallFirstMs: 2500 })
    const c = client({ bootstrap, host: '127.0.0.1', connectTimeoutMs: 400 })
    const started = Date.now()
    const replies = await Promise.all(Array.from({ length: 5 }, (_v, i) => c.request(s.key, 'echo', { i }, { timeoutMs: 5000 })))
    expect(replies).toEqual(Array.from({ length: 5 }, (_v, i) => ({ i })))
    // answered well before the stalled first handshake was let through
    expect(Date.now() - started).toBeLessThan(2500)
    expect(s.handshakes).toBeGreaterThanOrEqual(2)
    // once the stalled first connection has gone through too, still one delivery per request
    await sleep(2500 - (Date.now() - started) + 500)
    expect(s.received.get('echo')).toBe(5)
    expect(await c.request(s.key, 'echo', 'again')).toBe('again')
    expect(s.received.get('echo')).toBe(6)
  })

  it('a server that starts listening after the client began connecting gets each request exactly once', async () => {
    const s = await startServer({ listen: false })
    const c = client({ bootstrap, host: '127.0.0.1', connectAttempts: 6 })
    const pending = Promise.all([1, 2, 3].map((i) => c.request(s.key, 'echo', { i }, { timeoutMs: 8000 })))
    await sleep(150)
    expect(s.received.size).toBe(0)
    await s.listen()
    expect(await pending).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }])
    await sleep(300)
    expect(s.received.get('echo')).toBe(3)
  })

  it('a channel that closes is dropped: the next request connects again', async () => {
    const c = client()
    const first = await startServer()
    expect(await c.request(first.key, 'echo', 1)).toBe(1)
    await first.close()
    // same key, new process-like server: the old channel was closed by the server's shutdown
    const dht = new HyperDHT({ bootstrap, host: '127.0.0.1' })
    const rpc = new RPC({ dht, keyPair: first.keyPair })
    const server = rpc.createServer()
    server.respond('echo', (req) => encodeResult(decodeRequest(req)))
    await server.listen()
    try {
      expect(await waitFor(() => c.request(first.key, 'echo', 2, { timeoutMs: 6000 }), 10_000)).toBe(2)
    } finally {
      await server.close()
      await rpc.destroy({ force: true })
      await dht.destroy({ force: true })
    }
  })

  it('close() rejects a connect in flight and every later request with ERR_RPC_CLIENT_CLOSED', async () => {
    const s = await startServer()
    const c = client({ bootstrap, host: '127.0.0.1', connectAttempts: 100 })
    expect(await c.request(s.key, 'echo', 'hi')).toBe('hi')
    // a connect that keeps retrying (nobody serves this key) while close() runs
    const inFlight = outcome(c.request(HyperDHT.keyPair().publicKey, 'echo', {}, { timeoutMs: 20_000 }))
    await sleep(600)
    await c.close()
    const late = await inFlight
    expect(late.err).toMatchObject({ code: 'ERR_RPC_CLIENT_CLOSED' })
    expect(late.ms).toBeLessThan(2000)
    await c.close()
    await expect(c.request(s.key, 'echo', {})).rejects.toMatchObject({ code: 'ERR_RPC_CLIENT_CLOSED' })
    await expect(c.requestRaw(s.key, 'echo', Buffer.from('{}'))).rejects.toMatchObject({ code: 'ERR_RPC_CLIENT_CLOSED' })
  })

  it('close() leaves no open handles: a process using the client (own and injected DHT) exits by itself', async () => {
    const child = spawn(process.execPath, ['-e', CLOSE_SCENARIO], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const code = await withTimeout(exit, 20_000, 'the scenario did not exit').finally(() => child.kill('SIGKILL'))
    expect(out).not.toContain('STILL_ALIVE')
    expect(code, out).toBe(0)
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ own: 'hi', inFlight: 'ERR_RPC_CLIENT_CLOSED', injected: 'hi', injectedDestroyed: false })
  })

  it('close() does not destroy an injected DHT node; the client calls under that node\'s key', async () => {
    const s = await startServer()
    const dht = new HyperDHT({ bootstrap, host: '127.0.0.1' })
    try {
      await dht.ready()
      const c = client({ dht })
      expect(c.publicKey).toBe(dht.defaultKeyPair.publicKey.toString('hex'))
      expect(await c.request(s.key, 'echo', 'one')).toBe('one')
      await c.close()
      expect(dht.destroyed).toBe(false)
      const again = client({ dht })
      expect(await again.request(s.key, 'echo', 'two')).toBe('two')
      await again.close()
      expect(s.callers).toEqual([c.publicKey, c.publicKey])
    } finally {
      await dht.destroy({ force: true })
    }
  })
})

describe('NetFacility.request (outgoing calls)', () => {
  it('goes through the shared client on the facility\'s own DHT node, which stop() then destroys', async () => {
    const s = await startServer()
    const net = new NetFacility(
      { dhtOpts: { bootstrap: bootstrap.map((b) => `${b.host}:${b.port}`), host: '127.0.0.1' } },
      { rpc: async () => randomBytes(32), dht: async () => randomBytes(32) },
      silentLogger
    )
    await expect(net.request(Buffer.from(s.key, 'hex'), 'echo', {})).rejects.toThrow('ERR_NET_NOT_STARTED')
    await net.ready()
    try {
      expect(await net.request(Buffer.from(s.key, 'hex'), 'echo', { dhcp: 1 })).toEqual({ dhcp: 1 })
      const { err } = await outcome(net.request(Buffer.from(s.key, 'hex'), 'fail', {}))
      expect(err).toBeInstanceOf(RpcReplyError)
      expect(errorCode(err)).toBe('ERR_THING_NOTFOUND')
      expect(s.callers).toEqual([net.rpcClientKey.toString('hex'), net.rpcClientKey.toString('hex')])
    } finally {
      await net.close()
    }
    await expect(net.request(Buffer.from(s.key, 'hex'), 'echo', {})).rejects.toThrow('ERR_NET_NOT_STARTED')
  })
})
