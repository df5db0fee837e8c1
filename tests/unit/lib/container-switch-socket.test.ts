/** MicroBTContainer.switchSocket: the command list is capped and de-duplicated before anything is sent. */
import { describe, expect, it } from 'vitest'
import { MicroBTContainer } from '../../../workers/lib/container'
import type { ModbusClient, ModbusClientStats, RequestOptions } from '../../../workers/lib/modbus/types'
import type { SocketSwitchTuple } from '../../../workers/tpl/container/base-container'
import { rejectionCode, thrownCode } from '../../helpers/errors'

// ---- MicroBTContainer.switchSocket -------------------------------------------------------------

/** Accepts any authentication and records the FC06 writes as [unit, address, value]. */
class RecordingClient implements ModbusClient {
  readonly connectionId = 1
  readonly connected = true
  readonly stats: ModbusClientStats = { requests: 0, responses: 0, timeouts: 0, lateReplies: 0, exceptions: 0, reconnects: 0, maxInFlight: 4 }
  readonly writes: Array<[number, number, number]> = []
  readonly ops: string[] = []

  async connect (): Promise<number> {
    this.ops.push('connect')
    return 1
  }

  async readHoldingRegisters (unit: number, address: number, count: number, _opts?: RequestOptions): Promise<number[]> {
    this.ops.push(`read ${unit}:${address}`)
    return Array.from({ length: count }, (_, i) => (address + i) & 0xff)
  }

  async writeRegister (unit: number, address: number, value: number, _opts?: RequestOptions): Promise<void> {
    this.ops.push('write')
    this.writes.push([unit, address, value])
  }

  async writeRegisters (unit: number, address: number, _values: number[], _opts?: RequestOptions): Promise<void> {
    this.ops.push(`auth ${unit}:${address}`)
  }

  async close (): Promise<void> {}
}

function container (): { c: MicroBTContainer, client: RecordingClient } {
  const client = new RecordingClient()
  const c = new MicroBTContainer({ address: '10.0.0.1', port: 502, username: 'admin', password: 'pw', vendor: 'kehua', client })
  return { c, client }
}

describe('MicroBTContainer.switchSocket: capped and de-duplicated', () => {
  it('241 commands → ERR_SWITCH_SOCKET_INVALID_PARAMS and nothing is sent (no connect, no auth, no write)', async () => {
    const { c, client } = container()
    const cmds = Array.from({ length: 241 }, (_, i): SocketSwitchTuple => [String((i % 12) + 1), String((i % 20) + 1), true])
    await expect(rejectionCode(c.switchSocket(cmds))).resolves.toBe('ERR_SWITCH_SOCKET_INVALID_PARAMS')
    expect(thrownCode(() => c.validateWriteAction('switchSocket', cmds))).toBe('ERR_SWITCH_SOCKET_INVALID_PARAMS')
    expect(client.ops).toEqual([])
  })

  it('240 commands are accepted; one write per socket', async () => {
    const { c, client } = container()
    expect(await c.switchSocket(Array.from({ length: 240 }, (): SocketSwitchTuple => ['1', '1', true]))).toEqual({ success: true })
    expect(client.writes).toEqual([[9, 307, 1]])
  })

  it('[[1,1,off],[1,1,on],[1,all,off]] → exactly 20 writes, socket 1 of PDU 1 once with the last state (off)', async () => {
    const { c, client } = container()
    expect(await c.switchSocket([['1', '1', false], ['1', '1', true], ['1', '-1', false]])).toEqual({ success: true })
    expect(client.writes).toHaveLength(20)
    // socket s of PDU 1 is unit 9, register 309 − s (on-wire address 308 − s); 2 = off
    expect(client.writes).toEqual(Array.from({ length: 20 }, (_, i) => [9, 307 - i, 2]))
    expect(client.writes.filter(([u, a]) => u === 9 && a === 307)).toEqual([[9, 307, 2]])
  })

  it('the last command for a socket wins, in first-mentioned order', async () => {
    const { c, client } = container()
    await c.switchSocket([['2', '3', true], ['1', '5', true], ['2', '3', false], ['1', '5', false], ['1', '5', true]])
    expect(client.writes).toEqual([[10, 305, 2], [9, 303, 1]])
  })
})
