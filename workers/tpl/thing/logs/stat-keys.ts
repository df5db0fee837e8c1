/**
 * The names of the stat logs: the per-tag log keys callers use (`stat-<tf>-<tag>`), the
 * per-timeframe log that holds them (`stat:<tf>`), and a tag's key prefix inside it
 * (./stat-by-timeframe.ts explains the layout).
 */

/** The real-time timeframe: one overwritten record per tag. */
export const RTD = 'rtd'
/** The key of the single record of a tag in the `rtd` log. */
export const RTD_ENTRY_KEY = 'stat-rtd'

/** A stat log key of the per-tag naming: `stat-<tf>-<tag>`. */
const STAT_KEY = /^stat-([A-Za-z0-9]+)-([\s\S]+)$/

/** `stat-5m-t-container` → `{ tf: '5m', tag: 't-container' }`; null for any other log key. */
export function parseStatKey (key: string): { tf: string, tag: string } | null {
  const m = STAT_KEY.exec(key)
  return m ? { tf: m[1] as string, tag: m[2] as string } : null
}

/** The log of timeframe `tf` (its `meta_logs` key; bees `log:stat:<tf>:<gen>`). */
export function statLogKey (tf: string): string {
  return `stat:${tf}`
}

/** The prefix of every key of `tag` in a timeframe's log (prefix-free: ./stat-by-timeframe.ts). */
export function tagPrefix (tag: string): string {
  const n = String(Buffer.byteLength(tag))
  return `${n.length}${n}:${tag}/`
}
