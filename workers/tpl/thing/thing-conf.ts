/** `base.thing.json`: the rack's settings, their defaults and their validation. */
import { WrkError } from '../../core/errors'
import type { KeySpec } from '../../core/config-keys'

export interface ThingConf {
  collectSnapsItvMs: number
  collectSnapTimeoutMs: number
  storeSnapItvMs: number
  thingQueryConcurrency: number
  logRotateMaxLength: number
  logKeepCount: number
  storeTimeoutMs: number
  readBudgetMs: number
  slowThingMs: number
  maxThings: number
  maxTagsPerThing: number
  maxStatTags: number
  [key: string]: unknown
}

export const THING_CONF_DEFAULTS: ThingConf = {
  collectSnapsItvMs: 60_000,
  collectSnapTimeoutMs: 120_000,
  storeSnapItvMs: 300_000,
  thingQueryConcurrency: 25,
  logRotateMaxLength: 10_000,
  logKeepCount: 3,
  storeTimeoutMs: 10_000,
  /** queryThing of a read method answers within this (the orchestrator drops a rack after 10 s). */
  readBudgetMs: 8000,
  /** A thing whose last collection took longer is collected in the slow lane (a fifth of the slots). */
  slowThingMs: 5000,
  /** Things one rack holds (ERR_THING_LIMIT past it): the registry and its snapshots live in memory. */
  maxThings: 10_000,
  /** Tags of one thing, automatic ones included (ERR_THING_TAGS_INVALID past it). */
  maxTagsPerThing: 64,
  /** Distinct tags the rack aggregates stats for, each with its own stat logs (ERR_STAT_TAGS_LIMIT past it). */
  maxStatTags: 5000
}

/** The keys of base.thing.json the thing template reads (a layer above adds its own). */
export const THING_CONF_KEYS: KeySpec = {
  ...Object.fromEntries(Object.keys(THING_CONF_DEFAULTS).map((k) => [k, true])),
  alerts: true,
  alarms: true,
  container: true,
  scheduleAddlStatConfigTfs: true,
  rollupLogs: true,
  replicaDiscoveryKey: true,
  replicaRpcPublicKey: true,
  replicaRetryMaxMs: true,
  refreshReplicaConfItvMs: true,
  replicaReadTimeoutMs: true
}

/** The file's values over the defaults; every numeric setting must be a non-negative number. */
export function parseThingConf (conf: Record<string, unknown>): ThingConf {
  const out = { ...THING_CONF_DEFAULTS, ...conf } as ThingConf
  for (const key of Object.keys(THING_CONF_DEFAULTS)) {
    const v = out[key]
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: ${key} must be a non-negative number`)
    }
  }
  return out
}
