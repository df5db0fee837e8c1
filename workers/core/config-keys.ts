/**
 * Keys a configuration file may hold, and the ones it holds by mistake: a misspelt key is
 * otherwise silently ignored (`dhtOpts.bootstap` would leave the worker on the public DHT).
 * Each layer declares the keys it reads; unknown ones are logged as warnings at start, with the
 * closest valid key.
 */
import type { JsonObject } from './types'

/** `true`: a leaf (or a value whose keys are not checked); an object: its known keys. */
export type KeySpec = { readonly [key: string]: true | KeySpec }

export interface UnknownKey { path: string, suggestion: string | null }

/** Edit distance (insertions, deletions, substitutions). */
function distance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length] as number
}

/** The known key closest to `key`, when it is close enough to be a misspelling of it. */
function closest (key: string, known: readonly string[]): string | null {
  let best: string | null = null
  let bestD = Infinity
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase())
    if (d < bestD) {
      best = k
      bestD = d
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : null
}

/** The keys of `conf` that `spec` does not know, by dotted path. */
export function unknownKeys (conf: JsonObject, spec: KeySpec, prefix = ''): UnknownKey[] {
  const out: UnknownKey[] = []
  for (const [key, value] of Object.entries(conf)) {
    const known = spec[key]
    const path = prefix + key
    if (known === undefined) out.push({ path, suggestion: closest(key, Object.keys(spec)) })
    else if (known !== true && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      out.push(...unknownKeys(value as JsonObject, known, `${path}.`))
    }
  }
  return out
}
