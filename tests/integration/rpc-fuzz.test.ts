/**
 * Fuzz suite over every RPC method of the Kehua worker (in this process, through the same
 * request path the RPC server uses: payload bytes and caller key in, reply bytes out). From a
 * fixed seed, thousands of requests built from the methods' own field names and hostile values
 * (catastrophic regexes, computing projections, prototype keys, huge numbers, NUL bytes, wrong
 * types, non-JSON bytes). Every reply is JSON — a result or "[HRPC_ERR]=<catalogued code>"; a
 * refused request changes nothing; the worker keeps answering; the event loop is never held.
 * A few hundred of the same requests then go over the real RPC transport.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import fc from 'fast-check'
import HyperDHT from 'hyperdht'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'
import { meaningOf } from '../../workers/lib/error-catalogue'
import { errorCodeOfReply } from '../../workers/rpc/codec'
import type { MockServer } from '../../mock/server'

const SEED = 20261201
const FULL_SEED = Buffer.alloc(32, 1)
const FULL_KEY = HyperDHT.keyPair(FULL_SEED).publicKey
const READ_ONLY_KEY = HyperDHT.keyPair(Buffer.alloc(32, 2)).publicKey
let worker: RackWorker
let rpc: RackRpc
let mock: MockServer
let methods: string[]

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  mock = await startMock('Kehua', 5)
  const rack = await startRackInProcess({
    bootstrap,
    rack: 'fuzz-1',
    baseThing: { collectSnapsItvMs: 600_000, readBudgetMs: 1000, container: { timeout: 300, retry: 0 } },
    net: { r0: { allow: [FULL_KEY.toString('hex')], allowReadOnly: [READ_ONLY_KEY.toString('hex')] } }
  })
  worker = rack.worker
  rpc = new RackRpc(createRpcClient(bootstrap, { seed: FULL_SEED }), rack.key)
  await worker.callRpc('registerThing', { id: 'known', opts: mockOpts(mock), info: { container: 'bay-1', pos: 'A1' }, tags: ['row-a'] })
  await worker.callRpc('registerThing', { id: 'bare', opts: {}, info: { container: 'bay-2' } })
  await worker.callRpc('saveWrkSettings', { entries: { a: 1 } })
  // rackReboot stops the worker by design: everything else is fuzzed
  methods = worker.rpcDeclarations().map((d) => d.name).filter((m) => m !== 'rackReboot')
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

function catalogued (code: string): boolean {
  return meaningOf(code) !== ''
}

const hostileString = fc.constantFrom(
  '', 'known', 'bare', 'x'.repeat(300), 'a\u0000b', '\n', '__proto__', 'MBT-KEHUA-0001', 'MBT-KEHUA-999999999', 'Z-999999999',
  `${'.*'.repeat(10)}x`, '(a+)+$', '^(a|a)*$', 'getSnap', 'switchSocket', 'setCoolingFanThreshold', 'validateWriteAction',
  'thing-5m', 'stat-5m', 'stat-rtd', 't-container', 'alerts', 'info', 'http://10.0.0.1', '127.0.0.1', '127.0.0.1:502', '1D', '-1'
)
const hostileNumber = fc.oneof(fc.constantFrom(0, -1, 1, 1e9, 2 ** 53, 1e308, 0.5, -0, 65535, 65536), fc.integer({ min: -5, max: 200 }))
const leaf = fc.oneof(hostileString, hostileNumber, fc.boolean(), fc.constant(null))

const operatorValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ $regex: hostileString }),
  fc.record({ $range: fc.constant([0, 1e9]) }),
  fc.record({ $where: fc.constant('sleep(1000)') }),
  fc.record({ $expr: fc.constant({ $gt: ['$a', 1] }) }),
  fc.record({ $in: fc.array(leaf, { maxLength: 4 }) }),
  fc.record({ $map: fc.constant({ input: [1], in: '$$this' }) }),
  fc.record({ $elemMatch: fc.record({ $regex: hostileString }) }),
  fc.record({ $size: hostileNumber }),
  fc.record({ $exists: fc.boolean() })
)

const FIELDS = ['id', 'code', 'opts', 'info', 'tags', 'query', 'fields', 'sort', 'offset', 'limit', 'status', 'method', 'params', 'key', 'tag',
  'start', 'end', 'groupRange', 'shouldCalculateAvg', 'entries', 'requestType', 'thingId', 'comment', 'user', 'pos', 'logType', 'action',
  'rackActionId', 'forceOverwrite', 'all', 'actionId', '__proto__', 'constructor']

const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  any: fc.oneof({ depthSize: 'small' }, leaf, operatorValue, tie('arr'), tie('obj')),
  arr: fc.array(tie('any'), { maxLength: 4 }),
  obj: fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS, 'address', 'port', 'username', 'password', 'info.pos', 'last.snap'), fc.string({ maxLength: 6 })), tie('any'), { maxKeys: 4 })
})).any

/** Either a request object built from the methods' field names, raw JSON of any value, or bytes that are not JSON. */
const payload = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 }).map((o) => Buffer.from(JSON.stringify(o))) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constantFrom('{"__proto__": {"x": 1}}', '{"a":', '[]', '"str"', '1e999', '{"query":{"constructor":{"prototype":{}}}}').map((t) => Buffer.from(t)) },
  // computing projections and code operators, for every method (most methods refuse them before reading)
  { weight: 1, arbitrary: fc.constantFrom('{"fields":{"x":{"$range":[0,1000000000]}}}', '{"key":"thing-5m","tag":"t","fields":{"x":{"$map":{"input":[1],"in":"$$this"}}}}', '{"query":{"id":{"$where":"sleep(1000)"}}}', '{"logType":"info","query":{"$expr":{"$gt":["$a",1]}}}').map((t) => Buffer.from(t)) }
)

/** What must not change when a request is refused. */
async function state (): Promise<string> {
  const things = worker.registry.all().map((s) => s.record).sort((a, b) => a.id.localeCompare(b.id))
  return JSON.stringify({ things, settings: await worker.callRpc('getWrkSettings', {}) })
}

describe('RPC fuzz', () => {
  it('thousands of requests: JSON replies with catalogued codes, refusals change nothing, the loop is never held', async () => {
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const codes = new Map<string, number>()
    let results = 0
    try {
      await fc.assert(fc.asyncProperty(fc.constantFrom(...methods), payload, fc.boolean(), async (method, body, readOnly) => {
        const before = await state()
        // a read-only key may call read methods only
        const caller = readOnly ? READ_ONLY_KEY : FULL_KEY
        const reply = (await worker.serveRpc(method, body, caller)).toString()
        const parsed: unknown = JSON.parse(reply)
        const code = errorCodeOfReply(parsed)
        if (code !== null) {
          expect(code, `${method} ${body.toString().slice(0, 200)}`).toMatch(/^ERR_[A-Z0-9_]+$/)
          expect(catalogued(code), code).toBe(true)
          codes.set(code, (codes.get(code) ?? 0) + 1)
          expect(await state(), `${method} refused with ${code} but changed the state: ${body.toString().slice(0, 200)}`).toBe(before)
        } else {
          results++
        }
        // the worker keeps answering
        expect(JSON.parse((await worker.serveRpc('ping', Buffer.from('{"n":1}'), caller)).toString())).toEqual({ n: 1 })
      }), { seed: SEED, numRuns: 2500, endOnFailure: true })
    } finally {
      loop.disable()
    }
    // the run exercised both outcomes and many distinct refusals
    expect(results).toBeGreaterThan(100)
    expect(codes.size).toBeGreaterThan(10)
    expect(codes.get('ERR_QUERY_INVALID') ?? 0).toBeGreaterThan(0)
    expect(codes.get('ERR_FIELDS_INVALID') ?? 0).toBeGreaterThan(0)
    // a generous bound for a shared CI machine; a catastrophic regex or a $range held it for seconds
    expect(loop.max / 1e6).toBeLessThan(1000)
    expect(worker.isStarted).toBe(true)
  })

  it('over the real transport: every reply is JSON and the worker stays reachable', async () => {
    const samples = fc.sample(fc.tuple(fc.constantFrom(...methods), payload), { seed: SEED + 1, numRuns: 200 })
    for (const [method, body] of samples) {
      const text = await rpc.raw(method, body, 15_000)
      const code = errorCodeOfReply(JSON.parse(text))
      if (code !== null) expect(catalogued(code), code).toBe(true)
    }
    expect(await rpc.call('ping', { alive: true })).toEqual({ alive: true })
  })
})
