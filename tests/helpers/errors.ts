/** The `ERR_*` code of what a call throws or rejects with; the test fails when it is not a WrkError. */
import { expect } from 'vitest'
import { WrkError } from '../../workers/core/errors'

/** The WrkError `fn` throws; the test fails when it throws nothing or something else. */
export function thrown (fn: () => unknown): WrkError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(WrkError)
    return err as WrkError
  }
  throw new Error('expected a WrkError')
}

export function thrownCode (fn: () => unknown): string {
  return thrown(fn).code
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
