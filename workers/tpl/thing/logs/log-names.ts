/**
 * Every log a rack keeps, named once: the snapshot log of each thing, the alerts that started,
 * the info changes, and the stat logs of each timeframe (the keys `meta_logs` and the log bees
 * are named after; `tailLog` and the replicas read them by these names).
 */

/** A thing's stored snapshots (`tailLog {key: 'thing-5m', tag: <id>}`). */
export const THING_SNAP_LOG = 'thing-5m'

/** The snapshot log of one thing. */
export function thingLogKey (id: string): string {
  return `${THING_SNAP_LOG}-${id}`
}

/** Alerts that started (getHistoricalLogs `alerts`). */
export const ALERTS_LOG = 'thing-alerts'

/** The info changes of updateThing (getHistoricalLogs `info`). */
export const INFO_HISTORY_LOG = 'thing-history-log'

/** The keys `tailLog` reads: a thing's snapshot log, or a timeframe's stat log (`stat-<tf>`). */
export const TAIL_LOG_KEY = /^(thing-5m|stat-[A-Za-z0-9]+)$/
