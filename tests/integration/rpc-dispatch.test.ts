/**
 * TetherWrkBase in process: RPC dispatch, reply format, write permissions, audit log, the
 * store location and what a failed start leaves behind. Talks over a local HyperDHT testnet.
 */
import { cpSync, existsSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { defineMethod, type RpcKindOf, type RpcMethod } from '../../workers/rpc/method'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { TetherWrkBase } from '../../workers/tpl/tether-wrk-base'
import { WrkError } from '../../workers/core/errors'
import type { WorkerContext } from '../../workers/tpl/wrk-base'
import {
  cleanupAll,
  configPath,
  createBootstrap,
  createRpcClient,
  makeRoot,
  removeRoot,
  rpcErrorCode,
  startWorkerInProcess,
  waitFor,
  type DHTNodeAddress,
  type RpcClient
} from '../helpers'

/** A worker with one method of each shape the dispatcher must handle. */
class RpcTestWorker extends TetherWrkBase {
  writes: unknown[] = []

  constructor (ctx: WorkerContext) {
    super(ctx)
    const m = (name: string, kind: RpcKindOf, handler: (req: unknown) => unknown): RpcMethod =>
      defineMethod({ name, kind, summary: name, result: z.unknown(), errors: [], handler })
    this.registerRpc(
      m('doWrite', 'write', (req) => {
        this.writes.push(req)
        return { wrote: true }
      }),
      m('refusedWrite', 'write', () => { throw new WrkError('ERR_THING_NOTFOUND', 'no such thing') }),
      m('crash', 'read', () => { throw new Error('db password is hunter2 at /secret/path') }),
      m('coded', 'read', () => { throw new WrkError('ERR_LOG_NOTFOUND', 'no log') }),
      m('nothing', 'read', () => undefined),
      // the kind may depend on the request (like queryThing with a write action)
      m('maybeWrite', (req) => (req as { write?: boolean }).write === true ? 'write' : 'read', (req) => {
        if ((req as { write?: boolean }).write === true) this.writes.push(req)
        return 'done'
      }),
      m('slow', 'read', async (req) => {
        await new Promise((resolve) => setTimeout(resolve, 20))
        return req
      })
    )
  }
}

const ctxFor = (root: string, rack: string, extra: Partial<WorkerContext> = {}): WorkerContext =>
  ({ wtype: 'wrk-test-rpc', env: 'development', rack, root, ...extra })

let bootstrap: DHTNodeAddress[]

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
})
afterAll(cleanupAll)

describe('open worker (no allow list)', () => {
  let worker: RpcTestWorker
  let key: string
  let client: RpcClient

  beforeAll(async () => {
    const root = await makeRoot({ bootstrap })
    worker = await startWorkerInProcess(RpcTestWorker, ctxFor(root, 'open'))
    key = worker.net.rpcPublicKey.toString('hex')
    client = createRpcClient(bootstrap)
  })

  it('saves its keys and instance id in the status file', () => {
    expect(worker.readStatus()).toMatchObject({
      rpcPublicKey: key,
      rpcClientKey: worker.net.rpcClientKey.toString('hex'),
      instanceId: worker.instanceId
    })
  })

  it('ping, echo and getInstanceId are built in', async () => {
    expect(await client.request(key, 'ping', { a: 1 })).toEqual({ a: 1 })
    expect(await client.request(key, 'echo', [1, 'x'])).toEqual([1, 'x'])
    expect(await client.request(key, 'getInstanceId')).toBe(worker.instanceId)
    expect(worker.rpcKind('ping')).toBe('read')
    expect(worker.rpcKind('doWrite')).toBe('write')
    expect(worker.rpcKind('nope')).toBeUndefined()
    // the method table is sealed once the worker serves it
    expect(() => worker.registerRpc(defineMethod({ name: 'late', kind: 'read', summary: 'late', result: z.unknown(), errors: [], handler: () => 1 })))
      .toThrow(expect.objectContaining({ code: 'ERR_RPC_REGISTER_AFTER_START' }) as Error)
    expect(worker.rpcKind('late')).toBeUndefined()
  })

  it('everyone has full access: write methods run', async () => {
    expect(await client.request(key, 'doWrite', { id: 't1' })).toEqual({ wrote: true })
    expect(worker.writes).toContainEqual({ id: 't1' })
  })

  it('an unexpected error replies "[HRPC_ERR]=ERR_INTERNAL", never the message or stack', async () => {
    const raw = await client.requestRaw(key, 'crash', Buffer.from('{}'))
    expect(JSON.parse(raw)).toBe('[HRPC_ERR]=ERR_INTERNAL')
    expect(raw).not.toMatch(/hunter2|secret|at /)
  })

  it('a coded error replies with its code', async () => {
    expect(rpcErrorCode(await client.request(key, 'coded'))).toBe('ERR_LOG_NOTFOUND')
  })

  it('undefined results are sent as null', async () => {
    expect(await client.requestRaw(key, 'nothing', Buffer.from('{}'))).toBe('null')
  })

  it('an empty body is treated as {}', async () => {
    expect(await client.requestRaw(key, 'ping', Buffer.alloc(0))).toBe('{}')
  })

  it('non-JSON bodies → ERR_FACS_NET_DATA_FORMAT, before the method runs', async () => {
    const before = worker.writes.length
    expect(JSON.parse(await client.requestRaw(key, 'doWrite', Buffer.from('id=1')))).toBe('[HRPC_ERR]=ERR_FACS_NET_DATA_FORMAT')
    expect(worker.writes.length).toBe(before)
  })

  it('concurrent requests each get their own reply', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_v, i) => client.request(key, 'slow', { i })))
    expect(replies).toEqual(Array.from({ length: 20 }, (_v, i) => ({ i })))
  })

  it('write calls are audit-logged with method, outcome, thing id and caller key', async () => {
    const info = vi.spyOn(worker.logger, 'info')
    try {
      await client.request(key, 'doWrite', { id: 'thing-9', user: 'ops@site', password: 'p' })
      expect(rpcErrorCode(await client.request(key, 'refusedWrite', { id: 'thing-8' }))).toBe('ERR_THING_NOTFOUND')
      await client.request(key, 'ping', {})
      const audits = info.mock.calls.map((c) => c[0]).filter((o) => typeof o === 'object' && (o as { audit?: boolean }).audit)
      expect(audits).toEqual([
        expect.objectContaining({ audit: true, method: 'doWrite', outcome: 'ok', thingId: 'thing-9', user: 'ops@site', caller: client.publicKey }),
        expect.objectContaining({ audit: true, method: 'refusedWrite', outcome: 'ERR_THING_NOTFOUND', thingId: 'thing-8', caller: client.publicKey })
      ])
      // the request body is not logged (it may hold credentials)
      expect(JSON.stringify(audits)).not.toContain('"p"')
    } finally {
      info.mockRestore()
    }
  })

  it('callRpc runs a method in process; an unknown one is ERR_METHOD_INVALID', async () => {
    expect(await worker.callRpc('ping', { x: 1 })).toEqual({ x: 1 })
    await expect(worker.callRpc('nope', {})).rejects.toMatchObject({ code: 'ERR_METHOD_INVALID' })
  })

  it('after stop the key no longer answers and a second stop is a no-op', async () => {
    await worker.stop()
    await worker.stop()
    expect(worker.isStarted).toBe(false)
    const late = createRpcClient(bootstrap)
    await expect(late.request(key, 'ping', {}, 1500)).rejects.toThrow()
  })
})

describe('allow lists', () => {
  let worker: RpcTestWorker
  let key: string
  let full: RpcClient
  let readOnly: RpcClient

  beforeAll(async () => {
    full = createRpcClient(bootstrap, { seed: Buffer.alloc(32, 1) })
    readOnly = createRpcClient(bootstrap, { seed: Buffer.alloc(32, 2) })
    const root = await makeRoot({ bootstrap, net: { r0: { allow: [full.publicKey], allowReadOnly: [readOnly.publicKey] } } })
    worker = await startWorkerInProcess(RpcTestWorker, ctxFor(root, 'acl'))
    key = worker.net.rpcPublicKey.toString('hex')
  })

  it('a read-only key may read but a write is ERR_PERMISSION_DENIED (and audited), the method does not run', async () => {
    const info = vi.spyOn(worker.logger, 'info')
    try {
      expect(await readOnly.request(key, 'ping', 'hi')).toBe('hi')
      expect(await readOnly.request(key, 'doWrite', { id: 'x' })).toBe('[HRPC_ERR]=ERR_PERMISSION_DENIED')
      expect(worker.writes).toEqual([])
      expect(info).toHaveBeenCalledWith(
        expect.objectContaining({ audit: true, method: 'doWrite', outcome: 'ERR_PERMISSION_DENIED', caller: readOnly.publicKey }),
        'rpc write'
      )
    } finally {
      info.mockRestore()
    }
  })

  it('a method whose kind depends on the request is checked per request', async () => {
    expect(worker.rpcKind('maybeWrite', { write: true })).toBe('write')
    expect(worker.rpcKind('maybeWrite', {})).toBe('read')
    expect(await readOnly.request(key, 'maybeWrite', { write: false })).toBe('done')
    expect(await readOnly.request(key, 'maybeWrite', { write: true })).toBe('[HRPC_ERR]=ERR_PERMISSION_DENIED')
    expect(worker.writes).toEqual([])
    expect(await full.request(key, 'maybeWrite', { write: true })).toBe('done')
    worker.writes.length = 0
  })

  it('a full-access key may write', async () => {
    expect(await full.request(key, 'doWrite', { id: 'y' })).toEqual({ wrote: true })
    expect(worker.writes).toEqual([{ id: 'y' }])
  })

  it('accessOf maps keys to full / read / refused', () => {
    expect(worker.net.accessOf(Buffer.from(full.publicKey, 'hex'))).toBe('full')
    expect(worker.net.accessOf(Buffer.from(readOnly.publicKey, 'hex'))).toBe('read')
    expect(worker.net.accessOf(Buffer.alloc(32))).toBeNull()
    expect(worker.net.accessOf(null)).toBeNull()
  })

  it('an unlisted key cannot connect', async () => {
    const stranger = createRpcClient(bootstrap)
    await expect(stranger.request(key, 'ping', {}, 1500)).rejects.toThrow()
  })
})

describe('store location and failed starts', () => {
  it('stores under <root>/store/<rack>-db, or under ctx.tmpdir in the test env', async () => {
    const root = await makeRoot({ bootstrap })
    const tmpdir = await mkdtemp(path.join(os.tmpdir(), 'mbt-tmpdir-'))
    try {
      const dev = new RpcTestWorker(ctxFor(root, 'a', { tmpdir }))
      expect(dev.storeDir).toBe(path.join(root, 'store', 'a-db'))
      const worker = await startWorkerInProcess(RpcTestWorker, ctxFor(root, 'b', { env: 'test', tmpdir }))
      expect(worker.storeDir).toBe(path.join(tmpdir, 'store', 'b-db'))
      expect(existsSync(worker.storeDir)).toBe(true)
      expect(existsSync(path.join(root, 'store'))).toBe(false)
      await worker.stop()
    } finally {
      rmSync(tmpdir, { recursive: true, force: true })
    }
  })

  it('missing common.json fails start with ERR_CONFIG_MISSING before anything is opened', async () => {
    const root = await makeRoot({ bootstrap })
    rmSync(configPath(root, 'common'))
    await expect(startWorkerInProcess(RpcTestWorker, ctxFor(root, 'nocfg'))).rejects.toMatchObject({ code: 'ERR_CONFIG_MISSING' })
    expect(existsSync(path.join(root, 'store'))).toBe(false)
    expect(existsSync(path.join(root, 'status'))).toBe(false)
  })

  it('a net failure closes the already-open store: the same store opens again right away', async () => {
    const root = await makeRoot({ bootstrap, net: { r0: { dhtOpts: { bootstrap: ['no-port'] } } } })
    await expect(startWorkerInProcess(RpcTestWorker, ctxFor(root, 'retry'))).rejects.toThrow(/ERR_NET_BOOTSTRAP_INVALID/)
    expect(existsSync(path.join(root, 'store', 'retry-db'))).toBe(true)
    const good = await makeRoot({ bootstrap })
    // reuse the good config with the first root's store: the store lock must have been released
    rmSync(path.join(root, 'config'), { recursive: true })
    cpSync(path.join(good, 'config'), path.join(root, 'config'), { recursive: true })
    await removeRoot(good)
    const worker = await startWorkerInProcess(RpcTestWorker, ctxFor(root, 'retry'))
    expect(worker.isStarted).toBe(true)
    await worker.stop()
  })

  it('the RPC key is stable across restarts of the same store', async () => {
    const root = await makeRoot({ bootstrap })
    const first = await startWorkerInProcess(RpcTestWorker, ctxFor(root, 'stable'))
    const keys = [first.net.rpcPublicKey.toString('hex'), first.net.rpcClientKey.toString('hex')]
    await first.stop()
    const second = await startWorkerInProcess(RpcTestWorker, ctxFor(root, 'stable'))
    expect([second.net.rpcPublicKey.toString('hex'), second.net.rpcClientKey.toString('hex')]).toEqual(keys)
    expect(second.instanceId).not.toBe(first.instanceId)
    const client = createRpcClient(bootstrap)
    expect(await waitFor(() => client.request(keys[0]!, 'getInstanceId', {}, 3000), 5000)).toBe(second.instanceId)
    await second.stop()
  })
})
