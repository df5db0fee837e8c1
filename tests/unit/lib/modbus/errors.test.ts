/**
 * The Modbus transport's own errors: stable `ERR_MODBUS_*` codes that the layers above read
 * through `errorCode()`, and a transport that depends on no other layer.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ModbusError, ModbusExceptionError, closedError } from '../../../../workers/lib/modbus/errors'
import { errorCode } from '../../../../workers/core/errors'

const MODBUS_DIR = join(__dirname, '../../../../workers/lib/modbus')

describe('Modbus errors', () => {
  it('carry their code, message and name, and errorCode() reads the code', () => {
    const err = new ModbusError('ERR_MODBUS_TIMEOUT', 'modbus request timed out')
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ name: 'ModbusError', code: 'ERR_MODBUS_TIMEOUT', message: 'modbus request timed out' })
    expect(errorCode(err)).toBe('ERR_MODBUS_TIMEOUT')
    expect(errorCode(closedError())).toBe('ERR_MODBUS_CLOSED')
  })

  it('name exception replies ERR_MODBUS_EXCEPTION_<2 hex digits> and keep both codes', () => {
    const err = new ModbusExceptionError(3, 0x02)
    expect(err).toBeInstanceOf(ModbusError)
    expect(err).toMatchObject({ name: 'ModbusExceptionError', code: 'ERR_MODBUS_EXCEPTION_02', exceptionCode: 2, functionCode: 3 })
    expect(err.message).toBe('modbus exception 02 (illegal data address) for function 3')
    expect(new ModbusExceptionError(6, 0x0b).code).toBe('ERR_MODBUS_EXCEPTION_0B')
    expect(new ModbusExceptionError(16, 0x7f).message).toContain('(unknown)')
    expect(errorCode(new ModbusExceptionError(3, 0x0a))).toBe('ERR_MODBUS_EXCEPTION_0A')
  })

  it('the transport imports nothing outside workers/lib/modbus (in particular not workers/tpl)', () => {
    const files = readdirSync(MODBUS_DIR).filter((f) => f.endsWith('.ts'))
    expect(files).toEqual(expect.arrayContaining(['client.ts', 'connection.ts', 'errors.ts', 'frame.ts', 'pipeline.ts', 'types.ts']))
    for (const f of files) {
      const specifiers = [...readFileSync(join(MODBUS_DIR, f), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1])
      expect(specifiers.filter((s) => s.startsWith('.') && !s.startsWith('./')), f).toEqual([])
    }
  })
})
