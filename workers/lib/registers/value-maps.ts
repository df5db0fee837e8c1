import type { DecodedScalar } from './types'

/**
 * A named conversion of a raw register value to a non-numeric engineering value: each listed
 * raw value gives its value, any other raw value gives `otherwise`. As data, so that the mock
 * encodes a value the way a controller would (`encodeMapped`) from the same fact the worker
 * decodes it with. Raw 0 is never listed: it is what `otherwise` encodes to.
 */
export interface ValueMap {
  readonly values: Readonly<Record<number, DecodedScalar>>
  readonly otherwise: DecodedScalar
}

/** The value maps every vendor shares; a profile adds its own (./profiles). */
export const BASE_VALUE_MAPS: Readonly<Record<string, ValueMap>> = {
  /** 1 → true, anything else → false */
  flag: { values: { 1: true }, otherwise: false },
  /** 1 → 'auto', anything else → 'manual' */
  autoManual: { values: { 1: 'auto' }, otherwise: 'manual' }
}

/** The decoder of a value map, made once per field. */
export function mapDecoder (map: ValueMap): (raw: number) => DecodedScalar {
  const table = new Map<number, DecodedScalar>(Object.entries(map.values).map(([raw, value]) => [Number(raw), value]))
  const otherwise = map.otherwise
  return (raw) => {
    const value = table.get(raw)
    return value === undefined ? otherwise : value
  }
}

/** The raw value a controller holds for `value` (0 for `otherwise` and for any value the map does not list). */
export function encodeMapped (map: ValueMap, value: DecodedScalar): number {
  for (const [raw, v] of Object.entries(map.values)) if (v === value) return Number(raw)
  return 0
}
