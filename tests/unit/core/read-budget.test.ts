import { monitorEventLoopDelay } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import { ReadBudget } from '../../../workers/core/read-budget'
import { Limiter } from '../../../workers/core/async'
import { ReplyPage, capReply } from '../../../workers/rpc/limits'
import { rejectionCode } from '../../helpers/errors'

function busy (ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) { /* spin */ }
}

describe('ReadBudget', () => {
  it('refuses past its entry bound with ERR_READ_BUDGET_EXCEEDED', async () => {
    const budget = new ReadBudget({ maxEntries: 10 })
    for (let i = 0; i < 10; i++) await budget.tick()
    expect(budget.entries).toBe(10)
    expect(await rejectionCode(budget.tick())).toBe('ERR_READ_BUDGET_EXCEEDED')
  })

  it('refuses past its time bound', async () => {
    const budget = new ReadBudget({ maxMs: 20 })
    await budget.tick()
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(await rejectionCode(budget.tick())).toBe('ERR_READ_BUDGET_EXCEEDED')
  })

  it('hands the event loop back every slice: a timer fires during a long synchronous-looking scan', async () => {
    const budget = new ReadBudget({ sliceMs: 5, maxMs: 10_000 })
    let fired = 0
    const timer = setInterval(() => { fired++ }, 1)
    const histogram = monitorEventLoopDelay({ resolution: 1 })
    histogram.enable()
    for (let i = 0; i < 200; i++) {
      busy(1)
      await budget.tick()
    }
    histogram.disable()
    clearInterval(timer)
    expect(fired).toBeGreaterThan(10)
    // 200 ms of work, never more than a slice (plus scheduling noise) without the loop turning
    expect(histogram.max / 1e6).toBeLessThan(100)
  })
})

describe('Limiter with a bounded queue', () => {
  it('runs `size` at once, queues up to maxQueue, refuses the next at once with the queue code', async () => {
    const limiter = new Limiter(2, { maxQueue: 2, maxWaitMs: 10_000, code: 'ERR_BUSY' })
    let running = 0
    let peak = 0
    const gates: Array<() => void> = []
    const job = async (): Promise<void> => {
      running++
      peak = Math.max(peak, running)
      await new Promise<void>((resolve) => gates.push(resolve))
      running--
    }
    const runs = Array.from({ length: 4 }, async () => await limiter.run(job))
    expect(await rejectionCode(limiter.run(job))).toBe('ERR_BUSY')
    let released = 0
    while (released < 4) {
      const gate = gates.shift()
      if (gate) {
        gate()
        released++
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all(runs)
    expect(peak).toBe(2)
  })

  it('a caller waiting longer than maxWaitMs is refused and leaves the line; later callers still run', async () => {
    const limiter = new Limiter(1, { maxQueue: 8, maxWaitMs: 30, code: 'ERR_BUSY' })
    let release!: () => void
    const holder = limiter.run(async () => await new Promise<void>((resolve) => { release = resolve }))
    expect(await rejectionCode(limiter.run(async () => 1))).toBe('ERR_BUSY')
    release()
    await holder
    expect(await limiter.run(async () => 7)).toBe(7)
  })

  it('a failing job frees its slot', async () => {
    const limiter = new Limiter(1, { maxQueue: 1, maxWaitMs: 1000, code: 'ERR_BUSY' })
    await expect(limiter.run(async () => { throw new Error('boom') })).rejects.toThrow('boom')
    expect(await limiter.run(async () => 'ok')).toBe('ok')
  })
})

describe('ReplyPage', () => {
  it('keeps items while the JSON stays within the bound, the first always, and says when it is full', () => {
    const page = new ReplyPage<{ pad: string }>(100)
    expect(page.add({ pad: 'x'.repeat(200) })).toBe(true)
    expect(page.add({ pad: 'y' })).toBe(false)
    expect(page.full).toBe(true)
    const small = new ReplyPage<number>(20)
    let n = 0
    while (small.add(n)) n++
    expect(JSON.stringify(small.items).length).toBeLessThanOrEqual(20)
    expect(capReply(Array.from({ length: 100 }, (_, i) => i), 20)).toEqual(small.items)
  })
})
