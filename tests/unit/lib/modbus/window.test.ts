/**
 * The in-flight window policy on its own (no socket, no timers): timeouts from loss never
 * shrink the window for long, requests dropped only when pipelined suspend pipelining, a
 * mismatched reply disables it for good.
 */
import { describe, expect, it } from 'vitest'
import { InFlightWindow, type SampleKind, type WindowChange } from '../../../../workers/lib/modbus/window'

const settings = { maxInFlight: 4, restoreAfterReplies: 5, sampleSize: 10, trialRatio: 0.6, trialSize: 4 }

/** Sends one request as the pipeline would (with `inFlight` others on the wire) and settles it. */
function settle (w: InFlightWindow, inFlight: number, timedOut: boolean): WindowChange {
  const kind: SampleKind = w.classify(inFlight, true)
  return timedOut ? w.timedOut(kind) : w.answered(kind)
}

describe('InFlightWindow', () => {
  it('classifies requests to answering units: pipelined while others are in flight, trial ones only when sent alone during a trial', () => {
    const w = new InFlightWindow(settings)
    expect(w.classify(0, true)).toBe('none')
    expect(w.classify(3, true)).toBe('pipelined')
    expect(w.classify(3, false)).toBe('none') // a unit that did not answer its last request says nothing about pipelining
    for (let i = 0; i < 10; i++) settle(w, 3, true)
    expect(w.size).toBe(1)
    expect(w.classify(0, true)).toBe('trial')
    expect(w.classify(0, false)).toBe('none')
    expect(w.classify(1, true)).toBe('none') // sent before the trial began
  })

  it('keeps the window under loss below the trial ratio, however long', () => {
    const w = new InFlightWindow(settings)
    const changes: WindowChange[] = []
    // 50 % of pipelined requests time out, forever: below 60 %, no trial
    for (let i = 0; i < 1000; i++) changes.push(settle(w, 3, i % 2 === 0))
    expect(changes.filter((c) => c !== null)).toEqual([])
    expect(w.size).toBe(4)
  })

  it('heavy uniform loss: the trial loses as many sent alone, so the window comes back at once', () => {
    const w = new InFlightWindow(settings)
    let change: WindowChange = null
    for (let i = 0; i < 10 && change === null; i++) change = settle(w, 3, i % 10 < 7) // 70 % lost
    expect(change).toEqual({ kind: 'trial', pipelinedTimeoutRate: 0.7 })
    expect(w.size).toBe(1)
    expect([settle(w, 0, true), settle(w, 0, false), settle(w, 0, true)]).toEqual([null, null, null])
    expect(settle(w, 0, true)).toEqual({ kind: 'restored', after: 'trial' }) // 3 of 4 lost alone
    expect(w.size).toBe(4)
  })

  it('pipelined requests dropped, requests sent alone answered: suspended, restored after N replies, doubled next time', () => {
    const w = new InFlightWindow(settings)
    for (let i = 0; i < 10; i++) settle(w, 3, true)
    for (let i = 0; i < 3; i++) expect(settle(w, 0, false)).toBeNull()
    expect(settle(w, 0, false)).toEqual({ kind: 'suspended', reason: 'pipelined_timeouts', pipelinedTimeoutRate: 1, trialTimeoutRate: 0, restoreAfterReplies: 5 })
    expect(w.size).toBe(1)
    // a timeout while suspended is no evidence either way; replies count towards the restore
    expect(settle(w, 0, true)).toBeNull()
    for (let i = 0; i < 4; i++) expect(settle(w, 0, false)).toBeNull()
    expect(settle(w, 0, false)).toEqual({ kind: 'restored', after: 'replies' })
    expect(w.size).toBe(4)
    for (let i = 0; i < 10; i++) settle(w, 3, true)
    for (let i = 0; i < 3; i++) settle(w, 0, false)
    expect(settle(w, 0, false)).toMatchObject({ kind: 'suspended', restoreAfterReplies: 10 })
  })

  it('judges the latest sampleSize pipelined requests: old timeouts age out', () => {
    const w = new InFlightWindow(settings)
    for (let i = 0; i < 5; i++) settle(w, 3, true)
    for (let i = 0; i < 10; i++) expect(settle(w, 3, false)).toBeNull()
    for (let i = 0; i < 5; i++) expect(settle(w, 3, true)).toBeNull() // 5 of the last 10
    expect(settle(w, 3, true)).toMatchObject({ kind: 'trial' }) // 6 of the last 10
  })

  it('a mismatched reply disables pipelining for good, from any phase; quietly when it is already final or configured at 1', () => {
    const w = new InFlightWindow(settings)
    expect(w.mismatch('tid_mismatch')).toEqual({ kind: 'disabled', reason: 'tid_mismatch' })
    expect(w.size).toBe(1)
    expect(w.mismatch('unit_fc_mismatch')).toBeNull()
    for (let i = 0; i < 100; i++) settle(w, 0, false)
    expect(w.size).toBe(1)

    const suspended = new InFlightWindow(settings)
    for (let i = 0; i < 10; i++) settle(suspended, 3, true)
    expect(suspended.mismatch('tid_mismatch')).toEqual({ kind: 'disabled', reason: 'tid_mismatch' })
    for (let i = 0; i < 100; i++) settle(suspended, 0, false)
    expect(suspended.size).toBe(1)

    expect(new InFlightWindow({ ...settings, maxInFlight: 1 }).mismatch('tid_mismatch')).toBeNull()
  })
})
