/** A mock container on loopback with its control API and a Modbus client, for the tests of tests/unit/mock/. */
import { createHash } from 'node:crypto'
import ModbusRTU from 'modbus-serial'
import { afterEach } from 'vitest'
import { CDU, toInt16 } from '../../../mock/registers'
import { createControlServer, createServer, type CreateServerOptions, type MockServer } from '../../../mock/server'

export interface Harness {
  server: MockServer
  client: ModbusRTU
  /** Base URL of the control API. */
  base: string
}

const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** Starts a mock (no automatic drift), its control API and a connected client; all stopped after the test. */
export async function startHarness (opts: Partial<CreateServerOptions> = {}): Promise<Harness> {
  const server = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 7, id: 'm', ...opts })
  cleanups.push(async () => await server.stop())
  await server.start()
  const control = createControlServer([server], { port: 0 })
  cleanups.push(async () => await control.stop())
  const { port } = await control.start()
  const client = new ModbusRTU()
  await client.connectTCP('127.0.0.1', { port: server.port })
  client.setTimeout(5000)
  cleanups.push(async () => await new Promise<void>((resolve) => client.destroy(() => resolve())))
  return { server, client, base: `http://127.0.0.1:${port}` }
}

/** Raw uint16 value of one register. */
export async function readRaw (client: ModbusRTU, unit: number, reg: number): Promise<number> {
  client.setID(unit)
  return (await client.readHoldingRegisters(reg - 1, 1)).data[0] as number
}

/** A signed /100 register (temperatures, pressures). */
export async function readScaled (client: ModbusRTU, unit: number, reg: number): Promise<number> {
  return toInt16(await readRaw(client, unit, reg)) / 100
}

/** Authenticates the client's connection (needed before writes). */
export async function authenticate (client: ModbusRTU, username = 'admin', password = 'admin'): Promise<void> {
  client.setID(1)
  const challenge = Buffer.from((await client.readHoldingRegisters(CDU.challengeFirst - 1, 4)).buffer)
  const md5 = (s: string): Buffer => createHash('md5').update(s).digest()
  const digest = createHash('sha256').update(Buffer.concat([challenge, md5(username), md5(password)])).digest()
  await client.writeRegisters(CDU.authResponseFirst - 1, Array.from({ length: 16 }, (_, i) => digest.readUInt16BE(i * 2)))
}

/** A control API reply: its status and parsed JSON body (shape checked by the test). */
export interface Reply {
  status: number
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read fields of whatever JSON came back
  json: any
}

export async function post (url: string, body: unknown): Promise<Reply> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, json: await res.json() }
}

export async function get (url: string): Promise<Reply> {
  const res = await fetch(url)
  return { status: res.status, json: await res.json() }
}
