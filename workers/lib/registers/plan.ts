import { WrkError } from '../../core/errors'
import { MAX_READ_REGISTERS } from '../modbus/frame'
import { UNITS } from './units'
import { vendorFields } from './vendors'
import type { VendorRef } from './profiles'
import type { RegisterRange, RegisterSpan, UnitDef, UnitId } from './types'

/** One FC03 request. `start`/`end` are register numbers; `address` is the on-wire `start - 1`. */
export interface ReadRequest extends RegisterRange {
  address: number
  count: number
  /** Unlisted registers inside the request (only when merged across gaps with maxGap > 0). */
  gaps: readonly RegisterSpan[]
}

export interface PlanOptions {
  /** Merge ranges of a unit that are at most this many registers apart (0: only touching/overlapping). */
  maxGap?: number
  /** Registers per request, 1…125. */
  maxRegs?: number
  /** Gaps a device refused: ranges around them are never merged again. */
  splitMemory?: SplitMemory
}

/**
 * Remembers register spans that a device refused (exception 02) when a read was merged across
 * them, so later plans keep the ranges on either side apart.
 */
export class SplitMemory {
  private readonly spans = new Map<UnitId, RegisterSpan[]>()

  markBadSpan (unit: UnitId, start: number, end: number): void {
    const list = this.spans.get(unit) ?? []
    if (!list.some((s) => s.start === start && s.end === end)) list.push({ start, end })
    this.spans.set(unit, list)
  }

  /** True when any remembered span of `unit` overlaps start…end. */
  isBad (unit: UnitId, start: number, end: number): boolean {
    return (this.spans.get(unit) ?? []).some((s) => s.start <= end && s.end >= start)
  }

  badSpans (): RegisterRange[] {
    return [...this.spans].flatMap(([unit, list]) => list.map((s) => ({ unit, ...s })))
  }

  get size (): number {
    let n = 0
    for (const list of this.spans.values()) n += list.length
    return n
  }
}

function assertInt (value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WrkError('ERR_PLAN_INVALID_ARGS', `${what} must be an integer in ${min}…${max}`)
  }
}

/** Sorted, disjoint, non-touching spans of one unit. */
function normalise (spans: readonly RegisterSpan[]): RegisterSpan[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end)
  const out: RegisterSpan[] = []
  for (const s of sorted) {
    const prev = out[out.length - 1]
    if (prev !== undefined && s.start <= prev.end + 1) prev.end = Math.max(prev.end, s.end)
    else out.push({ start: s.start, end: s.end })
  }
  return out
}

/**
 * Plans FC03 requests for `ranges`: ranges of the same unit that touch or overlap are merged
 * (and, with maxGap > 0, ranges at most maxGap registers apart unless the gap is in the split
 * memory), then cut into requests of at most maxRegs registers. A cut never starts or ends a
 * request inside a gap. The result is sorted by unit, then register, and depends only on the
 * inputs (not on their order).
 */
export function planReads (ranges: readonly RegisterRange[], opts: PlanOptions = {}): ReadRequest[] {
  const maxGap = opts.maxGap ?? 0
  const maxRegs = opts.maxRegs ?? MAX_READ_REGISTERS
  assertInt(maxGap, 0, 0xffff, 'maxGap')
  assertInt(maxRegs, 1, MAX_READ_REGISTERS, 'maxRegs')

  const byUnit = new Map<UnitId, RegisterSpan[]>()
  for (const r of ranges) {
    assertInt(r.unit, 0, 255, 'unit')
    assertInt(r.start, 1, 0x10000, 'start')
    assertInt(r.end, r.start, 0x10000, 'end')
    const list = byUnit.get(r.unit) ?? []
    list.push({ start: r.start, end: r.end })
    byUnit.set(r.unit, list)
  }

  const requests: ReadRequest[] = []
  for (const unit of [...byUnit.keys()].sort((a, b) => a - b)) {
    const segments = normalise(byUnit.get(unit) ?? [])
    // runs: consecutive segments that may be read together
    const runs: RegisterSpan[][] = []
    for (const seg of segments) {
      const run = runs[runs.length - 1]
      const last = run?.[run.length - 1]
      const mergeable = run !== undefined && last !== undefined &&
        seg.start - last.end - 1 <= maxGap &&
        opts.splitMemory?.isBad(unit, last.end + 1, seg.start - 1) !== true
      if (mergeable) run.push(seg)
      else runs.push([seg])
    }
    for (const run of runs) requests.push(...chunkRun(unit, run, maxRegs))
  }
  return requests
}

function chunkRun (unit: UnitId, run: readonly RegisterSpan[], maxRegs: number): ReadRequest[] {
  const out: ReadRequest[] = []
  let cur: { start: number, end: number, segments: RegisterSpan[] } | null = null
  const flush = (): void => {
    if (cur === null) return
    const gaps: RegisterSpan[] = []
    for (let i = 1; i < cur.segments.length; i++) {
      gaps.push({ start: cur.segments[i - 1].end + 1, end: cur.segments[i].start - 1 })
    }
    out.push({ unit, start: cur.start, end: cur.end, address: cur.start - 1, count: cur.end - cur.start + 1, gaps })
    cur = null
  }
  for (const seg of run) {
    let s = seg.start
    while (s <= seg.end) {
      if (cur !== null && s > cur.start + maxRegs - 1) flush()
      if (cur === null) {
        const end = Math.min(seg.end, s + maxRegs - 1)
        cur = { start: s, end, segments: [{ start: s, end }] }
      } else {
        const end = Math.min(seg.end, cur.start + maxRegs - 1)
        cur.segments.push({ start: s, end })
        cur.end = end
      }
      s = cur.end + 1
    }
  }
  flush()
  return out
}

/** The listed (non-gap) spans of a request. */
export function listedParts (req: ReadRequest): RegisterRange[] {
  const parts: RegisterRange[] = []
  let s = req.start
  for (const gap of req.gaps) {
    parts.push({ unit: req.unit, start: s, end: gap.start - 1 })
    s = gap.end + 1
  }
  parts.push({ unit: req.unit, start: s, end: req.end })
  return parts
}

function neededRegisters (def: UnitDef, vendor: VendorRef): number[] {
  const regs = vendorFields(def.kind, vendor).map((f) => f.reg)
  for (const span of [...def.lists, ...def.extraRegisters]) {
    for (let r = span.start; r <= span.end; r++) regs.push(r)
  }
  return regs
}

/**
 * What a snapshot reads: every readable range (as listed, whole) that holds at least one
 * register the decoder uses for this vendor. Ranges nothing decodes (e.g. unit 1 26–35, the
 * auth challenge 301–304) are left out.
 */
export function snapshotRanges (vendor: VendorRef): RegisterRange[] {
  const out: RegisterRange[] = []
  for (const def of UNITS) {
    const needed = neededRegisters(def, vendor)
    const spans = def.readable.filter((span) => needed.some((r) => r >= span.start && r <= span.end))
    for (const unit of def.ids) {
      for (const span of spans) out.push({ unit, start: span.start, end: span.end })
    }
  }
  return out.sort((a, b) => a.unit - b.unit || a.start - b.start)
}
