/**
 * Helpers for the rack integration tests (tests/integration/rack-*.test.ts): mock containers
 * with known credentials, a typed RPC wrapper that records every reply text (so a test can
 * prove that no reply ever carried a secret), an in-process rack and config patching.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { expect } from 'vitest'
import { createServer, type MockServer } from '../../mock/server'
import type { ContainerType } from '../../mock/state'
import type { ContainerVendor } from '../../workers/lib/registers/types'
import { CONTAINER_VENDORS } from '../../workers/lib/registers/profiles'
import type { WorkerContext } from '../../workers/tpl/wrk-base'
import WrkContainerRackKehua from '../../workers/kehua.rack.container.wrk'
import WrkContainerRackWonderint from '../../workers/wonderint.rack.container.wrk'
import {
  configPath,
  deepMerge,
  makeRoot,
  rpcErrorCode,
  startWorkerInProcess,
  waitFor,
  type DHTNodeAddress,
  type JsonObject,
  type RpcClient
} from './index'

/** Distinctive credentials: a reply containing either string leaked a secret. */
export const MOCK_USER = 'op-user-7f3c'
export const MOCK_PASSWORD = 'S3cret-pw-91ab'

export type Vendor = ContainerVendor

/** The worker type of each vendor (`wrk-container-rack-<vendor>`). */
export const WTYPE: Record<Vendor, string> = Object.fromEntries(CONTAINER_VENDORS.map((v) => [v, `wrk-container-rack-${v}`]))

/** Short intervals for tests; deep-merged over config/base.thing.json.example. */
export const FAST_THING_CONF: JsonObject = {
  collectSnapsItvMs: 400,
  collectSnapTimeoutMs: 1500,
  storeSnapItvMs: 0,
  thingQueryConcurrency: 25,
  container: { timeout: 300, retry: 0 }
}

// ---------------------------------------------------------------------------------------------
// Mock containers

const mocks = new Set<MockServer>()

/** A started mock container on an ephemeral port, no drift, credentials MOCK_USER/MOCK_PASSWORD. */
export async function startMock (type: ContainerType = 'Kehua', seed = 1): Promise<MockServer> {
  const mock = createServer({ type, port: 0, tickMs: 0, seed, username: MOCK_USER, password: MOCK_PASSWORD })
  mocks.add(mock)
  await mock.start()
  return mock
}

export async function stopMocks (): Promise<void> {
  const all = [...mocks]
  mocks.clear()
  await Promise.all(all.map(async (m) => await m.exit().catch(() => {})))
}

/** Thing `opts` pointing at a mock. */
export function mockOpts (mock: MockServer, extra: JsonObject = {}): JsonObject {
  return { address: '127.0.0.1', port: mock.port, username: MOCK_USER, password: MOCK_PASSWORD, ...extra }
}

/** Raw value of a CDU threshold register as the worker writes it (value × 100, uint16). */
export function scaled (value: number): number {
  return Math.round(value * 100) & 0xffff
}

// ---------------------------------------------------------------------------------------------
// RPC

/** What listThings returns per thing. */
export interface ListedThing {
  id: string
  code: string
  type: string
  tags: string[]
  info: JsonObject
  rack: string
  comments: Array<{ id: string, ts: number, comment: string, user: string, pos?: string }>
  address?: string
  port?: number
  last?: ThingLastView
  [key: string]: unknown
}

export interface SnapView {
  success: boolean
  raw_errors?: Array<{ name: string }>
  stats?: {
    status?: string
    errors?: Array<{ msg: string, timestamp: number }>
    power_w?: number | null
    container_specific?: {
      cdu?: Record<string, unknown>
      pdu_data?: Array<{ pdu: string, sockets?: Array<{ socket: string, enabled: boolean }> }>
      power_meters?: unknown[]
      env?: Record<string, unknown>
    }
  }
  config?: unknown
}

export interface ThingLastView {
  snap?: SnapView | null
  err?: string | null
  ts?: number
  alerts?: unknown
}

export interface StoredSnap {
  ts: number
  err: string | null
  snap: SnapView | null
}

export class RackRpc {
  /** Every reply text received, in order. */
  readonly replies: string[] = []

  constructor (readonly client: RpcClient, readonly key: string) {}

  async raw (method: string, payload: Buffer | string, timeoutMs = 10000): Promise<string> {
    const text = await this.client.requestRaw(this.key, method, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), timeoutMs)
    this.replies.push(text)
    return text
  }

  /** The parsed reply, error strings included. */
  async send (method: string, data: unknown = {}, timeoutMs = 10000): Promise<unknown> {
    return JSON.parse(await this.raw(method, JSON.stringify(data), timeoutMs)) as unknown
  }

  /** The reply; fails the test on an `[HRPC_ERR]=` reply. */
  async call<T = unknown> (method: string, data: unknown = {}, timeoutMs = 10000): Promise<T> {
    const reply = await this.send(method, data, timeoutMs)
    const code = rpcErrorCode(reply)
    if (code !== null) throw new Error(`${method} failed with ${code}`)
    return reply as T
  }

  /** The error code of a reply that must be an error. */
  async error (method: string, data: unknown = {}): Promise<string> {
    const reply = await this.send(method, data)
    const code = rpcErrorCode(reply)
    if (code === null) throw new Error(`${method} was expected to fail but replied ${JSON.stringify(reply)}`)
    return code
  }

  async list (req: JsonObject = {}): Promise<ListedThing[]> {
    return await this.call<ListedThing[]>('listThings', req)
  }

  async thing (id: string): Promise<ListedThing> {
    const [found] = await this.list({ query: { id }, status: 1 })
    if (!found) throw new Error(`thing ${id} is not listed`)
    return found
  }

  async count (query?: JsonObject): Promise<number> {
    return await this.call<number>('getThingsCount', query ? { query } : {})
  }

  /** Waits until the thing's `last` satisfies `pred`; returns that `last`. */
  async waitLast (id: string, pred: (last: ThingLastView) => boolean, timeoutMs = 8000): Promise<ThingLastView> {
    return await waitFor(async () => {
      const last = (await this.thing(id)).last
      return last && pred(last) ? last : null
    }, timeoutMs, 50)
  }

  async tail (tag: string, req: JsonObject = {}, key = 'thing-5m'): Promise<StoredSnap[]> {
    return await this.call<StoredSnap[]>('tailLog', { key, tag, ...req })
  }

  /** Fails if any reply received so far contains one of `needles`. */
  expectNoReplyContains (...needles: string[]): void {
    expect(this.replies.length).toBeGreaterThan(0)
    for (const text of this.replies) {
      for (const needle of needles) expect(text.includes(needle), `a reply leaked "${needle}": ${text.slice(0, 300)}`).toBe(false)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Snapshot accessors

export function cduOf (snap: SnapView | null | undefined): Record<string, unknown> {
  const cdu = snap?.stats?.container_specific?.cdu
  if (!cdu) throw new Error(`snapshot has no cdu: ${JSON.stringify(snap)?.slice(0, 200)}`)
  return cdu
}

/** `enabled` of socket `socket` of PDU `pdu` in a snapshot (undefined when not present). */
export function socketEnabled (snap: SnapView | null | undefined, pdu: number, socket: number): boolean | undefined {
  const p = snap?.stats?.container_specific?.pdu_data?.find((d) => d.pdu === String(pdu))
  return p?.sockets?.find((s) => s.socket === String(socket))?.enabled
}

// ---------------------------------------------------------------------------------------------
// Workers and config

export type RackWorker = WrkContainerRackKehua | WrkContainerRackWonderint

export interface InProcessRack {
  worker: RackWorker
  root: string
  key: string
}

export interface StartRackOptions {
  bootstrap: DHTNodeAddress[]
  vendor?: Vendor
  rack?: string
  baseThing?: JsonObject
  net?: JsonObject
  /** Other config files by name (e.g. `'facs/miningos-net.config'`), deep-merged. */
  files?: Record<string, JsonObject>
  /** Extra worker context flags (e.g. `{ slave: true }`). */
  ctx?: Partial<WorkerContext>
  /** An existing root (e.g. to restart a worker on its store); the config files are left as they are. */
  root?: string
}

/** A real worker class started in this process on a fresh root (development env). */
export async function startRackInProcess (opts: StartRackOptions): Promise<InProcessRack> {
  const vendor = opts.vendor ?? 'kehua'
  const rack = opts.rack ?? 'r1'
  const root = opts.root ?? await makeRoot({ bootstrap: opts.bootstrap, baseThing: deepMerge(FAST_THING_CONF, opts.baseThing ?? {}), net: opts.net, files: opts.files })
  const ctx: WorkerContext = { ...opts.ctx, wtype: WTYPE[vendor], env: 'development', rack, root }
  const Cls = vendor === 'kehua' ? WrkContainerRackKehua : WrkContainerRackWonderint
  const worker: RackWorker = await startWorkerInProcess<RackWorker>(Cls, ctx)
  // The startup lines are enough; per-request info/audit lines would drown the test output.
  worker.logger.level = 'warn'
  return { worker, root, key: worker.net.rpcPublicKey.toString('hex') }
}

/** Deep-merges `patch` into `config/<name>.json` of a root made by makeRoot. */
export async function patchConfig (root: string, name: string, patch: JsonObject): Promise<void> {
  const file = configPath(root, name)
  const current = JSON.parse(await readFile(file, 'utf8')) as JsonObject
  await writeFile(file, JSON.stringify(deepMerge(current, patch), null, 2) + '\n')
}
