/**
 * Helpers of container-mock.test.ts: real mock servers on ephemeral ports and real
 * MicroBTContainers (with their real Modbus TCP client), tracked so that `releaseAll()` closes
 * every container and exits every mock even when a test failed halfway.
 */
import net from 'node:net'
import { expect } from 'vitest'
import { createServer, type CreateServerOptions, type MockServer } from '../../mock/server'
import { MicroBTContainer, type MicroBTContainerOptions } from '../../workers/lib/container'
import type { ContainerSnapshot, ContainerVendor } from '../../workers/lib/registers'
import type { ThingSnap } from '../../workers/tpl/thing/base-thing'

export const HOST = '127.0.0.1'
/** Per-request Modbus timeout of the containers under test (ms). */
export const TIMEOUT_MS = 250

const mocks = new Set<MockServer>()
const containers = new Set<MicroBTContainer>()

/** A started mock of the vendor (port 0, no drift unless `tickMs` is given), exited by `releaseAll()`. */
export async function startMock (vendor: ContainerVendor, opts: Partial<CreateServerOptions> = {}): Promise<MockServer> {
  const mock = createServer({ type: vendor, port: 0, host: HOST, tickMs: 0, seed: 42, ...opts })
  mocks.add(mock)
  await mock.start()
  return mock
}

/** A container pointed at `port` with admin/admin, short timeouts and fast reconnects. */
export function makeContainer (vendor: ContainerVendor, port: number, opts: Partial<MicroBTContainerOptions> = {}): MicroBTContainer {
  const c = new MicroBTContainer({
    vendor,
    address: HOST,
    port,
    username: 'admin',
    password: 'admin',
    timeout: TIMEOUT_MS,
    retry: 0,
    retryInterval: 20,
    ...opts
  })
  containers.add(c)
  return c
}

/**
 * Closes every container, waits (up to 2 s) for the mocks to see every connection closed, then
 * exits every mock. Returns each mock's open connections after the containers closed (all 0
 * unless a container leaked a socket).
 */
export async function releaseAll (): Promise<number[]> {
  const cs = [...containers]
  containers.clear()
  await Promise.all(cs.map(async (c) => await c.close()))
  const ms = [...mocks]
  mocks.clear()
  const deadline = Date.now() + 2000
  while (ms.some((m) => m.connectionCount > 0) && Date.now() < deadline) await sleep(5)
  const open = ms.map((m) => m.connectionCount)
  await Promise.all(ms.map(async (m) => await m.exit()))
  return open
}

/** A TCP port on HOST nobody listens on (bound, then released). */
export async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `check` every 5 ms until it is true; fails the test after `timeoutMs`. */
export async function waitUntil (check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Asserts a successful snapshot and narrows it. */
export function expectSuccess (snap: ThingSnap<ContainerSnapshot>): ContainerSnapshot {
  if (!snap.success) expect.fail(`snapshot failed: ${JSON.stringify(snap)}`)
  return snap
}

/** FC06 + FC16 requests the mock received so far. */
export function writeRequests (mock: MockServer): number {
  return (mock.stats.byFunctionCode[6] ?? 0) + (mock.stats.byFunctionCode[16] ?? 0)
}

/** What the mock received since `snapshotCounters()` was called. */
export interface CounterDelta {
  requests: number
  fc03: number
  fc06: number
  fc16: number
  byUnit: (unit: number) => number
  connections: number
  authSucceeded: number
  authFailed: number
}

/** Takes the mock's counters now; the returned function reports the growth since. */
export function snapshotCounters (mock: MockServer): () => CounterDelta {
  const s = mock.stats
  const before = {
    requests: s.requests,
    fc: { ...s.byFunctionCode },
    byUnit: { ...s.byUnit },
    connections: s.connections,
    authSucceeded: s.authSucceeded,
    authFailed: s.authFailed
  }
  return () => {
    const now = mock.stats
    const fc = (code: number): number => (now.byFunctionCode[code] ?? 0) - (before.fc[code] ?? 0)
    return {
      requests: now.requests - before.requests,
      fc03: fc(3),
      fc06: fc(6),
      fc16: fc(16),
      byUnit: (unit: number) => (now.byUnit[unit] ?? 0) - (before.byUnit[unit] ?? 0),
      connections: now.connections - before.connections,
      authSucceeded: now.authSucceeded - before.authSucceeded,
      authFailed: now.authFailed - before.authFailed
    }
  }
}

/**
 * Calls a controller method the way the RPC layer does: with arbitrary (possibly invalid)
 * arguments, e.g. a trailing `{actionId, user}` or a string where a boolean belongs.
 */
export async function invoke (c: MicroBTContainer, method: string, ...args: unknown[]): Promise<unknown> {
  const fn = (c as unknown as Record<string, unknown>)[method]
  if (typeof fn !== 'function') throw new Error(`no method ${method}`)
  return await (fn as (...a: unknown[]) => unknown).apply(c, args)
}

/** `validateWriteAction` with arbitrary arguments (it throws synchronously). */
export function validate (c: MicroBTContainer, action: string, ...args: unknown[]): unknown {
  return c.validateWriteAction(action, ...args)
}

/** Raw register as int16. */
export function signed (raw: number): number {
  return raw >= 0x8000 ? raw - 0x10000 : raw
}
