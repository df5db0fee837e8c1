import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { LoggingFacility, serializeError } from '../../../workers/facs/logging'
import { WrkError } from '../../../workers/core/errors'

function capture (): { lines: Array<Record<string, unknown>>, destination: Writable } {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  return { lines, destination }
}

describe('error log lines', () => {
  it('carry message, code, stack and causes, also for an error with circular references', () => {
    const { lines, destination } = capture()
    const { logger } = new LoggingFacility({ name: 't', debug: false, destination })
    const inner = Object.assign(new Error('Decoded message is not valid'), { code: 'DECODING_ERROR' }) as Error & { core?: unknown }
    const core: Record<string, unknown> = { name: 'core' }
    core.self = core
    inner.core = core
    logger.error({ err: new WrkError('ERR_STORE_WRITE_FAILED', 'log write failed', { cause: inner }) }, 'rpc method failed')
    const err = lines[0].err as Record<string, unknown>
    expect(JSON.stringify(lines[0])).not.toMatch(/unable to serialize/)
    expect(err).toMatchObject({ type: 'WrkError', code: 'ERR_STORE_WRITE_FAILED', message: 'log write failed' })
    expect(err.stack).toMatch(/logging\.test/)
    expect(err.cause).toMatchObject({ code: 'DECODING_ERROR', message: 'Decoded message is not valid' })
    expect(err.cause).not.toHaveProperty('core')
  })

  it('non-errors pass through as values', () => {
    expect(serializeError('plain')).toBe('plain')
    expect(serializeError(42)).toBe(42)
  })
})
