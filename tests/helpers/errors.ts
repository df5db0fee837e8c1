/** The `ERR_*` code of what a call throws or rejects with; the test fails when it is not a WrkError. */
import { expect } from 'vitest'
import { WrkError } from '../../workers/core/errors'

export function thrownCode (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(WrkError)
    return (err as WrkError).code
  }
  throw new Error('expected a WrkError')
}

export async function rejectionCode (p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(WrkError)
    return (err as WrkError).code
  }
  throw new Error('expected a rejection')
}
