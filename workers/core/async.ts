import { WrkError } from './errors'

/** Runs `fn` over `items` with at most `limit` in flight; results keep input order. */
export async function mapLimit<T, R> (items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const limiter = new Limiter(limit)
  return await Promise.all(items.map((item) => limiter.run(() => fn(item))))
}

/** Rejects with `code` when `promise` has not settled within `ms`; the timer never outlives it. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, code: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new WrkError(code)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface LimiterQueue {
  /** Most callers waiting; one more is refused with `code` at once. */
  maxQueue: number
  /** Longest wait for a slot; past it the caller is refused with `code`. */
  maxWaitMs: number
  code: string
}

/**
 * A counting semaphore: at most `size` holders at once, waiters served in arrival order. With a
 * `queue` bound, waiting is bounded too: past `maxQueue` waiters or `maxWaitMs` of waiting a
 * caller is refused with the queue's code (e.g. ERR_BUSY), so N callers cost at most `size`
 * runs plus a bounded line.
 */
export class Limiter {
  private active = 0
  private readonly waiting: Array<(granted: boolean) => void> = []

  constructor (private readonly size: number, private readonly queue: LimiterQueue | null = null) {}

  private async acquire (): Promise<void> {
    if (this.active < Math.max(1, this.size)) {
      this.active++
      return
    }
    const q = this.queue
    if (q && this.waiting.length >= q.maxQueue) throw new WrkError(q.code, `more than ${q.maxQueue} requests waiting`)
    let timer: NodeJS.Timeout | undefined
    const granted = await new Promise<boolean>((resolve) => {
      this.waiting.push(resolve)
      if (q) {
        timer = setTimeout(() => {
          const i = this.waiting.indexOf(resolve)
          if (i >= 0) this.waiting.splice(i, 1)
          resolve(false)
        }, q.maxWaitMs)
      }
    })
    clearTimeout(timer)
    if (!granted) throw new WrkError(q?.code ?? 'ERR_BUSY', `no slot within ${q?.maxWaitMs ?? 0} ms`)
  }

  private release (): void {
    const next = this.waiting.shift()
    if (next) next(true) // the slot passes to the next waiter
    else this.active--
  }

  async run<T> (fn: () => Promise<T>): Promise<T> {
    await this.acquire()
    try {
      return await fn()
    } finally {
      this.release()
    }
  }
}

/** Runs tasks one at a time per key (e.g. writes to one thing), different keys in parallel. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const tail = new Promise<void>((resolve) => { release = resolve })
    this.tails.set(key, tail)
    try {
      await prev
      return await fn()
    } finally {
      release()
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }
}

/**
 * Jobs that run until a stop (stat ticks, rollups): once `stop()` is called no job starts any
 * more, and it resolves when the jobs in flight have ended (they look at `stopping` to end soon).
 */
export class StoppableJobs {
  private readonly running = new Set<Promise<void>>()
  private stopped = false

  get stopping (): boolean {
    return this.stopped
  }

  /** Runs `job` unless stopping; resolves when it ends. */
  async run (job: () => Promise<void>): Promise<void> {
    if (this.stopped) return
    const running = job()
    this.running.add(running)
    try {
      await running
    } finally {
      this.running.delete(running)
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    await Promise.allSettled([...this.running])
  }
}

/** Reads in flight per key (a log), so that what must wait for them (a close, a clear) runs when the last one ends. */
export class ReaderCounts {
  private readonly counts = new Map<string, number>()

  has (key: string): boolean {
    return this.counts.has(key)
  }

  enter (key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }

  /** A read of `key` ended; true when it was the last one. */
  leave (key: string): boolean {
    const left = (this.counts.get(key) ?? 1) - 1
    if (left > 0) {
      this.counts.set(key, left)
      return false
    }
    this.counts.delete(key)
    return true
  }
}
