import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Facility, openOrder, startFacilities, stopFacilities } from '../../../workers/facs/facility'
import { NetFacility } from '../../../workers/facs/net'
import { IntervalFacility } from '../../../workers/facs/interval'
import { SchedulerFacility } from '../../../workers/facs/scheduler'
import { WrkBase, type WorkerContext } from '../../../workers/tpl/wrk-base'
import type { Logger } from '../../../workers/core/types'

/** A facility that records its open/close in a shared journal and can be told to fail. */
class FakeFacility extends Facility {
  starts = 0
  stops = 0
  override readonly dependsOn: readonly string[]
  constructor (
    readonly name: string,
    dependsOn: string[],
    private readonly journal: string[],
    private readonly behaviour: { failStart?: boolean, failStop?: boolean, startDelayMs?: number } = {}
  ) {
    super()
    this.dependsOn = dependsOn
  }

  protected override async _open (): Promise<void> {
    this.journal.push(`start:${this.name}`)
    if (this.behaviour.startDelayMs) await new Promise((resolve) => setTimeout(resolve, this.behaviour.startDelayMs))
    if (this.behaviour.failStart) throw new Error(`boom:${this.name}`)
    this.starts++
  }

  protected override async _close (): Promise<void> {
    this.journal.push(`stop:${this.name}`)
    this.stops++
    if (this.behaviour.failStop) throw new Error(`stop-boom:${this.name}`)
  }
}

interface RecordingLogger extends Logger {
  errors: unknown[]
}

function recordingLogger (): RecordingLogger {
  const errors: unknown[] = []
  return { errors, debug: () => {}, info: () => {}, warn: () => {}, error: (obj) => { errors.push(obj) } }
}

describe('startFacilities / stopFacilities', () => {
  it('opens each facility after its dependencies (not in insertion order) and closes in reverse opening order', async () => {
    const journal: string[] = []
    const facs = [
      new FakeFacility('net', ['log', 'store'], journal),
      new FakeFacility('log', [], journal),
      new FakeFacility('sched', ['log'], journal),
      new FakeFacility('store', [], journal)
    ]
    const started = await startFacilities(facs)
    expect(started.map((f) => f.name)).toEqual(['log', 'store', 'net', 'sched'])
    expect(journal).toEqual(['start:log', 'start:store', 'start:net', 'start:sched'])
    // the caller's array is not reordered
    expect(facs.map((f) => f.name)).toEqual(['net', 'log', 'sched', 'store'])

    journal.length = 0
    expect(await stopFacilities(started)).toEqual([])
    expect(journal).toEqual(['stop:sched', 'stop:net', 'stop:store', 'stop:log'])
  })

  it('a failure in the middle closes the already-open ones (reverse order) and rethrows', async () => {
    const journal: string[] = []
    const a = new FakeFacility('a', [], journal)
    const b = new FakeFacility('b', ['a'], journal)
    const c = new FakeFacility('c', ['b'], journal, { failStart: true })
    const d = new FakeFacility('d', ['c'], journal)
    await expect(startFacilities([d, c, b, a])).rejects.toThrow('boom:c')
    expect(journal).toEqual(['start:a', 'start:b', 'start:c', 'stop:b', 'stop:a'])
    expect(c.stops).toBe(0)
    expect(d.starts + d.stops).toBe(0)
  })

  it('stopFacilities attempts every facility and returns the failures', async () => {
    const journal: string[] = []
    const facs = [
      new FakeFacility('a', [], journal),
      new FakeFacility('b', ['a'], journal, { failStop: true }),
      new FakeFacility('c', ['b'], journal)
    ]
    await startFacilities(facs)
    journal.length = 0
    const failures = await stopFacilities(facs)
    expect(journal).toEqual(['stop:c', 'stop:b', 'stop:a'])
    expect(failures).toHaveLength(1)
    expect((failures[0] as Error).message).toBe('stop-boom:b')
  })

  it('the first start error is rethrown even when a close during rollback fails too', async () => {
    const journal: string[] = []
    const facs = [
      new FakeFacility('a', [], journal, { failStop: true }),
      new FakeFacility('b', ['a'], journal, { failStart: true })
    ]
    await expect(startFacilities(facs)).rejects.toThrow('boom:b')
    expect(journal).toEqual(['start:a', 'start:b', 'stop:a'])
  })

  it('an unknown dependency or a cycle is refused before anything opens', async () => {
    const journal: string[] = []
    await expect(startFacilities([new FakeFacility('a', ['nope'], journal)])).rejects.toThrow(/depends on nope/)
    expect(() => openOrder([new FakeFacility('a', ['b'], journal), new FakeFacility('b', ['a'], journal)])).toThrow(/cycle/)
    expect(journal).toEqual([])
  })

  it('ready() and close() are idempotent and concurrent-safe; a closed facility does not reopen', async () => {
    const journal: string[] = []
    const f = new FakeFacility('x', [], journal, { startDelayMs: 20 })
    await Promise.all([f.ready(), f.ready(), f.ready()])
    expect(f.starts).toBe(1)
    await Promise.all([f.close(), f.close()])
    expect(f.stops).toBe(1)
    await expect(f.ready()).rejects.toMatchObject({ code: 'ERR_RESOURCE_CLOSED' })
    // closing one that never opened closes nothing
    const g = new FakeFacility('g', [], journal)
    await g.close()
    expect(g.stops).toBe(0)
  })

  it('the worker facilities declare what they need: net after store (its key seeds) and logging', () => {
    const log = recordingLogger()
    const net = new NetFacility({}, { rpc: async () => Buffer.alloc(32), dht: async () => Buffer.alloc(32) }, log)
    expect(net.dependsOn).toEqual(expect.arrayContaining(['store', 'logging']))
    expect(new IntervalFacility(log).dependsOn).toContain('logging')
    expect(new SchedulerFacility(log).dependsOn).toContain('logging')
  })
})

describe('IntervalFacility', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('never overlaps a slow job: ticks that find it running are skipped', async () => {
    const itv = new IntervalFacility(recordingLogger())
    await itv.ready()
    let running = 0
    let maxRunning = 0
    let runs = 0
    itv.add('slow', async () => {
      runs++
      running++
      maxRunning = Math.max(maxRunning, running)
      await new Promise((resolve) => setTimeout(resolve, 95))
      running--
    }, 10)

    await vi.advanceTimersByTimeAsync(1000)
    expect(maxRunning).toBe(1)
    // one run per ~100 ms (95 ms of work, next free tick), not one per 10 ms tick
    expect(runs).toBeGreaterThanOrEqual(8)
    expect(runs).toBeLessThanOrEqual(10)
    await itv.close()
  })

  it('runs a fast job on every tick', async () => {
    const itv = new IntervalFacility(recordingLogger())
    await itv.ready()
    const fn = vi.fn()
    itv.add('fast', fn, 100)
    await vi.advanceTimersByTimeAsync(1050)
    expect(fn).toHaveBeenCalledTimes(10)
    await itv.close()
  })

  it('a failing job is logged and keeps its schedule; a throwing sync job is not fatal either', async () => {
    const log = recordingLogger()
    const itv = new IntervalFacility(log)
    await itv.ready()
    let calls = 0
    itv.add('async-fail', async () => { calls++; throw new Error('nope') }, 50)
    itv.add('sync-fail', () => { throw new Error('sync nope') }, 50)
    await vi.advanceTimersByTimeAsync(260)
    expect(calls).toBe(5)
    expect(log.errors.length).toBe(10)
    expect(log.errors[0]).toMatchObject({ job: 'async-fail' })
    expect(log.errors).toContainEqual(expect.objectContaining({ job: 'sync-fail' }))
    await itv.close()
  })

  it('stop clears every timer; nothing runs afterwards', async () => {
    const itv = new IntervalFacility(recordingLogger())
    await itv.ready()
    const a = vi.fn()
    const b = vi.fn()
    itv.add('a', a, 10)
    itv.add('b', b, 20)
    expect(vi.getTimerCount()).toBe(2)
    await itv.close()
    expect(vi.getTimerCount()).toBe(0)
    expect(itv.has('a')).toBe(false)
    expect(itv.has('b')).toBe(false)
    await vi.advanceTimersByTimeAsync(500)
    expect(a).not.toHaveBeenCalled()
    expect(b).not.toHaveBeenCalled()
  })

  it('add with an existing name replaces the job; clear removes one job', async () => {
    const itv = new IntervalFacility(recordingLogger())
    await itv.ready()
    const first = vi.fn()
    const second = vi.fn()
    itv.add('job', first, 10)
    itv.add('job', second, 10)
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(35)
    expect(first).not.toHaveBeenCalled()
    expect(second).toHaveBeenCalledTimes(3)
    itv.clear('job')
    itv.clear('unknown') // no-op
    expect(itv.has('job')).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
    await itv.close()
  })
})

describe('SchedulerFacility', () => {
  beforeEach(() => { vi.useFakeTimers({ now: new Date('2025-01-01T00:00:00.200Z') }) })
  afterEach(() => { vi.useRealTimers() })

  it('add runs the job on its cron pattern with the tick time; remove stops it', async () => {
    const sched = new SchedulerFacility(recordingLogger())
    await sched.ready()
    const ticks: Date[] = []
    sched.add('every-second', '* * * * * *', (tick) => { ticks.push(tick) })
    expect(sched.names()).toEqual(['every-second'])

    await vi.advanceTimersByTimeAsync(3000)
    expect(ticks.length).toBe(3)
    expect(ticks.map((t) => t.toISOString())).toEqual([
      '2025-01-01T00:00:01.000Z', '2025-01-01T00:00:02.000Z', '2025-01-01T00:00:03.000Z'
    ])

    sched.remove('every-second')
    sched.remove('never-added') // no-op
    expect(sched.names()).toEqual([])
    await vi.advanceTimersByTimeAsync(3000)
    expect(ticks.length).toBe(3)
    await sched.close()
  })

  it('patterns are evaluated in UTC, seconds field first', async () => {
    const sched = new SchedulerFacility(recordingLogger())
    await sched.ready()
    const ticks: Date[] = []
    // second 0 of minute 1 of every hour, UTC
    sched.add('hourly', '0 1 * * * *', (tick) => { ticks.push(tick) })
    await vi.advanceTimersByTimeAsync(2 * 60 * 60 * 1000)
    expect(ticks.map((t) => t.toISOString())).toEqual(['2025-01-01T00:01:00.000Z', '2025-01-01T01:01:00.000Z'])
    await sched.close()
  })

  it('add with an existing name replaces the job', async () => {
    const sched = new SchedulerFacility(recordingLogger())
    await sched.ready()
    const first = vi.fn()
    const second = vi.fn()
    sched.add('job', '* * * * * *', first)
    sched.add('job', '* * * * * *', second)
    expect(sched.names()).toEqual(['job'])
    await vi.advanceTimersByTimeAsync(2000)
    expect(first).not.toHaveBeenCalled()
    expect(second).toHaveBeenCalledTimes(2)
    await sched.close()
  })

  it('a throwing job is logged, not fatal, and keeps running', async () => {
    const log = recordingLogger()
    const sched = new SchedulerFacility(log)
    await sched.ready()
    let calls = 0
    sched.add('bad', '* * * * * *', async () => { calls++; throw new Error('tick failed') })
    await vi.advanceTimersByTimeAsync(2000)
    expect(calls).toBe(2)
    expect(log.errors).toHaveLength(2)
    expect(log.errors[0]).toMatchObject({ job: 'bad' })
    await sched.close()
  })

  it('a slow job does not overlap itself (protect)', async () => {
    const sched = new SchedulerFacility(recordingLogger())
    await sched.ready()
    let running = 0
    let maxRunning = 0
    let runs = 0
    sched.add('slow', '* * * * * *', async () => {
      runs++
      running++
      maxRunning = Math.max(maxRunning, running)
      await new Promise((resolve) => setTimeout(resolve, 2500))
      running--
    })
    await vi.advanceTimersByTimeAsync(6000)
    expect(maxRunning).toBe(1)
    expect(runs).toBeLessThanOrEqual(3)
    await sched.close()
  })

  it('stop removes every job and leaves no timer', async () => {
    const sched = new SchedulerFacility(recordingLogger())
    await sched.ready()
    const fn = vi.fn()
    sched.add('a', '* * * * * *', fn)
    sched.add('b', '*/5 * * * * *', fn)
    await sched.close()
    expect(sched.names()).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(10000)
    expect(fn).not.toHaveBeenCalled()
  })
})

// ---------------------------------------------------------------------------------------------

class TestWorker extends WrkBase {
  readonly journal: string[] = []
  failInit = false
  failOnStart = false
  failOnStop = false
  facilityBehaviour: Record<string, { failStart?: boolean, failStop?: boolean, startDelayMs?: number }> = {}
  facs: FakeFacility[] = []

  protected override init (): void {
    this.journal.push('init')
    for (const [name, deps] of [['store', []], ['net', ['store']]] as const) {
      this.facs.push(this.addFacility(new FakeFacility(name, [...deps], this.journal, this.facilityBehaviour[name])))
    }
    if (this.failInit) throw new Error('ERR_INIT_FAILED')
  }

  protected override async onStart (): Promise<void> {
    this.journal.push('onStart')
    if (this.failOnStart) throw new Error('ERR_ON_START')
  }

  protected override async onStop (): Promise<void> {
    this.journal.push('onStop')
    if (this.failOnStop) throw new Error('ERR_ON_STOP')
  }
}

describe('WrkBase lifecycle', () => {
  let root: string
  const ctx = (): WorkerContext => ({ wtype: 'wrk-test', env: 'test', rack: 'r0', root })

  beforeEach(() => { root = mkdtempSync(path.join(os.tmpdir(), 'mbt-wrkbase-')) })
  afterEach(() => { rmSync(root, { recursive: true, force: true }) })

  it('start: init, facilities by priority, onStart; stop: onStop, facilities in reverse', async () => {
    const w = new TestWorker(ctx())
    expect(w.isStarted).toBe(false)
    await w.start()
    expect(w.isStarted).toBe(true)
    expect(w.journal).toEqual(['init', 'start:store', 'start:net', 'onStart'])
    await w.stop()
    expect(w.isStarted).toBe(false)
    expect(w.journal.slice(4)).toEqual(['onStop', 'stop:net', 'stop:store'])
  })

  it('a second start is refused (while starting, started and after stop); facilities start once', async () => {
    const w = new TestWorker(ctx())
    w.facilityBehaviour.store = { startDelayMs: 30 }
    const first = w.start()
    await expect(w.start()).rejects.toThrow('ERR_WRK_ALREADY_STARTING')
    await first
    await expect(w.start()).rejects.toThrow('ERR_WRK_ALREADY_STARTED')
    await w.stop()
    await expect(w.start()).rejects.toThrow('ERR_WRK_ALREADY_STOPPED')
    expect(w.facs.map((f) => f.starts)).toEqual([1, 1])
    expect(w.journal.filter((e) => e === 'init')).toHaveLength(1)
  })

  it('stop is idempotent: before start, twice in a row, concurrently', async () => {
    const w = new TestWorker(ctx())
    await w.stop() // never started: nothing to do
    expect(w.journal).toEqual([])
    await w.start()
    await Promise.all([w.stop(), w.stop()])
    await w.stop()
    expect(w.journal.filter((e) => e === 'onStop')).toHaveLength(1)
    expect(w.facs.map((f) => f.stops)).toEqual([1, 1])
  })

  it('every concurrent stop() resolves only once the worker is fully stopped', async () => {
    const w = new TestWorker(ctx())
    await w.start()
    const first = w.stop()
    const second = w.stop()
    await second
    // `await stop()` must mean stopped, whichever call it was
    expect(w.facs.map((f) => f.stops)).toEqual([1, 1])
    await first
  })

  it('stop() during start waits for the start and then stops everything it opened', async () => {
    const w = new TestWorker(ctx())
    w.facilityBehaviour.net = { startDelayMs: 40 }
    const starting = w.start()
    await new Promise((resolve) => setTimeout(resolve, 10)) // store started, net still starting
    await w.stop()
    await starting.catch(() => {})
    expect(w.isStarted).toBe(false)
    expect(w.facs.map((f) => [f.starts, f.stops])).toEqual([[1, 1], [1, 1]])
  })

  it('an init error surfaces before any facility starts; the worker is then stopped', async () => {
    const w = new TestWorker(ctx())
    w.failInit = true
    await expect(w.start()).rejects.toThrow('ERR_INIT_FAILED')
    expect(w.journal).toEqual(['init'])
    expect(w.isStarted).toBe(false)
    await w.stop() // no-op, no throw
    expect(w.journal).toEqual(['init'])
  })

  it('a facility start failure stops the started ones and rethrows', async () => {
    const w = new TestWorker(ctx())
    w.facilityBehaviour.net = { failStart: true }
    await expect(w.start()).rejects.toThrow('boom:net')
    expect(w.journal).toEqual(['init', 'start:store', 'start:net', 'stop:store'])
    expect(w.isStarted).toBe(false)
  })

  it('an onStart failure stops every facility and rethrows', async () => {
    const w = new TestWorker(ctx())
    w.failOnStart = true
    await expect(w.start()).rejects.toThrow('ERR_ON_START')
    expect(w.journal).toEqual(['init', 'start:store', 'start:net', 'onStart', 'stop:net', 'stop:store'])
    expect(w.isStarted).toBe(false)
  })

  it('an onStop failure still stops every facility, then rethrows', async () => {
    const w = new TestWorker(ctx())
    w.failOnStop = true
    await w.start()
    await expect(w.stop()).rejects.toThrow('ERR_ON_STOP')
    expect(w.facs.map((f) => f.stops)).toEqual([1, 1])
    expect(w.isStarted).toBe(false)
    await w.stop() // already stopped
    expect(w.facs.map((f) => f.stops)).toEqual([1, 1])
  })

  it('loadConf reads <root>/config with the worker env', () => {
    mkdirSync(path.join(root, 'config'))
    writeFileSync(path.join(root, 'config', 'common.json'), JSON.stringify({ debug: false }))
    writeFileSync(path.join(root, 'config', 'test.common.json'), JSON.stringify({ debug: true }))
    const w = new TestWorker(ctx())
    expect(w.loadConf('common', true)).toEqual({ debug: true })
    expect(w.loadConf('missing')).toEqual({})
    expect(() => w.loadConf('missing', true)).toThrow(/ERR|missing config file/)
  })

  it('each instance has its own random instanceId', () => {
    const a = new TestWorker(ctx())
    const b = new TestWorker(ctx())
    expect(a.instanceId).toMatch(/^[0-9a-f-]{36}$/)
    expect(a.instanceId).not.toBe(b.instanceId)
  })
})

describe('WrkBase status file', () => {
  let root: string
  beforeEach(() => { root = mkdtempSync(path.join(os.tmpdir(), 'mbt-status-')) })
  afterEach(() => { rmSync(root, { recursive: true, force: true }) })

  it('lives at <root>/status/<wtype>-<rack>.json; saveStatus creates the folder', () => {
    const w = new TestWorker({ wtype: 'wrk-container-rack-kehua', env: 'test', rack: 'shelf-1', root })
    expect(w.statusFile).toBe(path.join(root, 'status', 'wrk-container-rack-kehua-shelf-1.json'))
    expect(w.readStatus()).toEqual({})
    w.saveStatus({ a: 1 })
    expect(JSON.parse(readFileSync(w.statusFile, 'utf8'))).toEqual({ a: 1 })
  })

  it('saveStatus merges into what is there (other keys survive, given keys win)', () => {
    const w = new TestWorker({ wtype: 'wrk-t', env: 'test', rack: 'r', root })
    w.saveStatus({ rpcPublicKey: 'aa', instanceId: 'one', operatorNote: 'keep me' })
    w.saveStatus({ instanceId: 'two' })
    expect(w.readStatus()).toEqual({ rpcPublicKey: 'aa', instanceId: 'two', operatorNote: 'keep me' })
    // a second instance on the same rack sees and merges the same file
    const again = new TestWorker({ wtype: 'wrk-t', env: 'test', rack: 'r', root })
    again.saveStatus({ instanceId: 'three' })
    expect(again.readStatus()).toEqual({ rpcPublicKey: 'aa', instanceId: 'three', operatorNote: 'keep me' })
  })

  it('a corrupt status file is replaced, not fatal', () => {
    const w = new TestWorker({ wtype: 'wrk-t', env: 'test', rack: 'r', root })
    mkdirSync(path.dirname(w.statusFile), { recursive: true })
    writeFileSync(w.statusFile, '{ half a file')
    expect(w.readStatus()).toEqual({})
    w.saveStatus({ instanceId: 'x' })
    expect(w.readStatus()).toEqual({ instanceId: 'x' })
  })

  it('writes atomically: no temp file is left behind, the file is pretty JSON ending in a newline', () => {
    const w = new TestWorker({ wtype: 'wrk-t', env: 'test', rack: 'r', root })
    for (let i = 0; i < 5; i++) w.saveStatus({ i })
    expect(readdirSync(path.join(root, 'status'))).toEqual(['wrk-t-r.json'])
    const text = readFileSync(w.statusFile, 'utf8')
    expect(text).toBe(JSON.stringify({ i: 4 }, null, 2) + '\n')
    expect(existsSync(`${w.statusFile}.${process.pid}.tmp`)).toBe(false)
  })
})
