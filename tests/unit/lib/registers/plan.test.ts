import { describe, expect, it } from 'vitest'
import {
  CONTAINER_VENDORS,
  SplitMemory,
  listedParts,
  planReads,
  snapshotRanges,
  type ReadRequest,
  type RegisterRange
} from '../../../../workers/lib/registers'

/** Readable ranges exactly as listed in registers.md (written out here, not taken from the module). */
const LISTED: Record<number, Array<[number, number]>> = {
  1: [[1, 4], [26, 35], [46, 65], [90, 100], [201, 212], [291, 300], [301, 304], [601, 623]],
  2: [[2, 4]],
  3: [[2, 16]],
  8: [[2, 14]]
}
for (const u of [4, 5, 6, 7]) LISTED[u] = [[2, 71], [73, 84]]
for (let u = 9; u <= 20; u++) LISTED[u] = [[2, 192]]

const isListed = (unit: number, reg: number): boolean => (LISTED[unit] ?? []).some(([a, b]) => reg >= a && reg <= b)

const spans = (reqs: ReadRequest[]): string[] => reqs.map((r) => `${r.unit}:${r.start}-${r.end}`)

describe('snapshot plan for the default map', () => {
  const expected: string[] = [
    '1:1-4', '1:90-100', '1:201-212', '1:291-300', '1:601-623',
    '2:2-4', '3:2-16',
    ...[4, 5, 6, 7].flatMap((u) => [`${u}:2-71`, `${u}:73-84`]),
    '8:2-14',
    ...Array.from({ length: 12 }, (_, i) => [`${i + 9}:2-126`, `${i + 9}:127-192`]).flat()
  ]

  for (const vendor of CONTAINER_VENDORS) {
    it(`${vendor}: at most 42 requests, exactly these ranges`, () => {
      const plan = planReads(snapshotRanges(vendor))
      expect(plan.length).toBeLessThanOrEqual(42)
      expect(plan.length).toBe(40)
      expect(spans(plan)).toEqual(expected)
      for (const r of plan) {
        expect(r.address).toBe(r.start - 1)
        expect(r.count).toBe(r.end - r.start + 1)
        expect(r.count).toBeLessThanOrEqual(125)
        expect(r.gaps).toEqual([])
      }
    })
  }

  it('never reads outside the listed ranges with maxGap 0, whatever the cap', () => {
    for (const maxRegs of [1, 7, 50, 100, 125]) {
      for (const r of planReads(snapshotRanges('kehua'), { maxRegs })) {
        expect(r.count).toBeLessThanOrEqual(maxRegs)
        for (let reg = r.start; reg <= r.end; reg++) {
          if (!isListed(r.unit, reg)) throw new Error(`unit ${r.unit} reg ${reg} is not listed (maxRegs ${maxRegs})`)
        }
      }
    }
  })

  it('covers every register the decoder needs', () => {
    const plan = planReads(snapshotRanges('wonderint'))
    const covered = (unit: number, reg: number): boolean => plan.some((r) => r.unit === unit && reg >= r.start && reg <= r.end)
    const needed: Array<[number, number]> = [
      [1, 1], [1, 95], [1, 100], [1, 201], [1, 211], [1, 212], [1, 291], [1, 300], [1, 601], [1, 615],
      [2, 3], [2, 4], [3, 8], [4, 57], [7, 82], [8, 14], [9, 46], [9, 65], [20, 81], [20, 158], [20, 191]
    ]
    for (const [u, reg] of needed) expect(covered(u, reg), `${u}:${reg}`).toBe(true)
    // the auth challenge is not part of a snapshot
    expect(covered(1, 301)).toBe(false)
  })
})

describe('planReads', () => {
  it('merges ranges of a unit that overlap or touch, never across units', () => {
    const plan = planReads([
      { unit: 5, start: 3, end: 10 }, { unit: 5, start: 1, end: 4 }, { unit: 5, start: 11, end: 12 },
      { unit: 6, start: 13, end: 14 }, { unit: 5, start: 14, end: 20 }
    ])
    expect(spans(plan)).toEqual(['5:1-12', '5:14-20', '6:13-14'])
  })

  it('merges across gaps of at most maxGap when maxGap > 0, and lists the gaps', () => {
    const ranges: RegisterRange[] = [{ unit: 4, start: 2, end: 71 }, { unit: 4, start: 73, end: 84 }, { unit: 4, start: 90, end: 95 }]
    expect(spans(planReads(ranges))).toEqual(['4:2-71', '4:73-84', '4:90-95'])
    const one = planReads(ranges, { maxGap: 1 })
    expect(spans(one)).toEqual(['4:2-84', '4:90-95'])
    expect(one[0].gaps).toEqual([{ start: 72, end: 72 }])
    const five = planReads(ranges, { maxGap: 5 })
    expect(spans(five)).toEqual(['4:2-95'])
    expect(five[0].gaps).toEqual([{ start: 72, end: 72 }, { start: 85, end: 89 }])
    expect(five[0]).toMatchObject({ address: 1, count: 94 })
  })

  it('maxGap > 0 on the full map reduces the request count', () => {
    expect(planReads(snapshotRanges('kehua'), { maxGap: 1 }).length).toBe(36)
  })

  it('splits at a lower per-device cap', () => {
    const plan = planReads([{ unit: 9, start: 2, end: 192 }], { maxRegs: 50 })
    expect(spans(plan)).toEqual(['9:2-51', '9:52-101', '9:102-151', '9:152-192'])
    expect(plan.map((r) => [r.address, r.count])).toEqual([[1, 50], [51, 50], [101, 50], [151, 41]])
  })

  it('never starts or ends a request inside a gap', () => {
    const ranges: RegisterRange[] = [{ unit: 1, start: 1, end: 10 }, { unit: 1, start: 20, end: 30 }]
    expect(spans(planReads(ranges, { maxGap: 20, maxRegs: 15 }))).toEqual(['1:1-10', '1:20-30'])
    const p = planReads(ranges, { maxGap: 20, maxRegs: 25 })
    expect(spans(p)).toEqual(['1:1-25', '1:26-30'])
    expect(p[0].gaps).toEqual([{ start: 11, end: 19 }])
    expect(p[1].gaps).toEqual([])
  })

  it('is deterministic: input order does not matter', () => {
    const ranges = snapshotRanges('wonderint')
    const shuffled = [...ranges].reverse()
    shuffled.push(shuffled.shift()!)
    expect(planReads(shuffled, { maxGap: 3, maxRegs: 60 })).toEqual(planReads(ranges, { maxGap: 3, maxRegs: 60 }))
  })

  it('rejects invalid options and ranges', () => {
    const bad = expect.objectContaining({ code: 'ERR_PLAN_INVALID_ARGS' })
    expect(() => planReads([], { maxRegs: 126 })).toThrow(bad)
    expect(() => planReads([], { maxRegs: 0 })).toThrow(bad)
    expect(() => planReads([], { maxGap: -1 })).toThrow(bad)
    expect(() => planReads([{ unit: 1, start: 5, end: 4 }])).toThrow(bad)
    expect(() => planReads([{ unit: 1, start: 0, end: 4 }])).toThrow(bad)
    expect(() => planReads([{ unit: 1, start: 1.5, end: 4 }])).toThrow(bad)
  })
})

describe('split memory', () => {
  const ranges: RegisterRange[] = [
    { unit: 4, start: 2, end: 71 }, { unit: 4, start: 73, end: 84 }, { unit: 5, start: 2, end: 71 }, { unit: 5, start: 73, end: 84 }
  ]

  it('a remembered bad gap is never merged again (same unit only)', () => {
    const memory = new SplitMemory()
    const first = planReads(ranges, { maxGap: 2, splitMemory: memory })
    expect(spans(first)).toEqual(['4:2-84', '5:2-84'])
    memory.markBadSpan(4, 72, 72)
    expect(memory.isBad(4, 70, 72)).toBe(true)
    expect(memory.isBad(5, 72, 72)).toBe(false)
    expect(spans(planReads(ranges, { maxGap: 2, splitMemory: memory }))).toEqual(['4:2-71', '4:73-84', '5:2-84'])
    memory.markBadSpan(4, 72, 72)
    expect(memory.size).toBe(1)
    expect(memory.badSpans()).toEqual([{ unit: 4, start: 72, end: 72 }])
  })

  it('a refused merged request re-plans as its listed parts', () => {
    const memory = new SplitMemory()
    const [req] = planReads([{ unit: 1, start: 1, end: 4 }, { unit: 1, start: 8, end: 10 }, { unit: 1, start: 12, end: 20 }], { maxGap: 3, splitMemory: memory })
    expect(req).toMatchObject({ start: 1, end: 20, gaps: [{ start: 5, end: 7 }, { start: 11, end: 11 }] })
    expect(listedParts(req)).toEqual([{ unit: 1, start: 1, end: 4 }, { unit: 1, start: 8, end: 10 }, { unit: 1, start: 12, end: 20 }])
    for (const g of req.gaps) memory.markBadSpan(req.unit, g.start, g.end)
    expect(spans(planReads(listedParts(req), { maxGap: 3, splitMemory: memory }))).toEqual(['1:1-4', '1:8-10', '1:12-20'])
  })
})
