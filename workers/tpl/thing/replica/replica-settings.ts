/**
 * What a read replica is configured with: its settings in base.thing.json (`--slave`) and the
 * master's `getReplicaConf` answer, both checked before use.
 */
import { WrkError } from '../../../core/errors'
import { MAIN_CORE, type ReplicaConf } from './replica-source'
import type { JsonObject } from '../types'

export interface ReplicaSettings {
  /** RPC key of the master (`replicaRpcPublicKey`). */
  masterRpcKey: string
  /** The replica's own `replicaDiscoveryKey`; null = the master's. */
  discoveryKey: string | null
  /** Longest pause between two `getReplicaConf` attempts while the master is away. */
  retryMaxMs: number
  /** How often the configuration is asked again once known. */
  refreshItvMs: number
  /** Bound of a read of a block that is not copied yet. */
  readTimeoutMs: number
}

export const HEX64 = /^[0-9a-f]{64}$/i

function hexOrNull (v: unknown): string | null {
  return typeof v === 'string' && HEX64.test(v) ? v.toLowerCase() : null
}

/** A `getReplicaConf` answer, checked. */
export function parseReplicaConf (value: unknown): ReplicaConf {
  const v = (value !== null && typeof value === 'object' ? value : {}) as Record<string, unknown>
  const keys = (v.metaDiscoveryKeys !== null && typeof v.metaDiscoveryKeys === 'object'
    ? v.metaDiscoveryKeys
    : {}) as Record<string, unknown>
  const main = hexOrNull(keys[MAIN_CORE])
  if (main === null || typeof v.rackId !== 'string') {
    throw new WrkError('ERR_REPLICA_CONF_INVALID', 'getReplicaConf answered no main core key')
  }
  const metaDiscoveryKeys: Record<string, string> = {}
  for (const [k, key] of Object.entries(keys)) if (hexOrNull(key) !== null) metaDiscoveryKeys[k] = String(key).toLowerCase()
  return {
    rackId: v.rackId,
    replicaDiscoveryKey: hexOrNull(v.replicaDiscoveryKey),
    swarmPublicKey: hexOrNull(v.swarmPublicKey),
    metaDiscoveryKeys
  }
}

/** The replication settings of base.thing.json, checked (the replica's only with `--slave`). */
export function parseReplicaSettings (conf: JsonObject, slave: boolean): { discoveryKey: string | null, replica: ReplicaSettings | null } {
  const invalid = (what: string): WrkError => new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: ${what}`)
  const key = (name: string): string | null => {
    const v = conf[name]
    if (v === undefined || v === null || v === '') return null
    if (typeof v !== 'string' || !HEX64.test(v)) throw invalid(`${name} must be 64 hex characters`)
    return v.toLowerCase()
  }
  const ms = (name: string, fallback: number, min: number): number => {
    const v = conf[name]
    if (v === undefined) return fallback
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw invalid(`${name} must be an integer ≥ ${min}`)
    return v
  }
  const discoveryKey = key('replicaDiscoveryKey')
  if (!slave) return { discoveryKey, replica: null }
  const masterRpcKey = key('replicaRpcPublicKey')
  if (masterRpcKey === null) throw invalid('a replica (--slave) needs replicaRpcPublicKey, the RPC key of its master')
  return {
    discoveryKey,
    replica: {
      masterRpcKey,
      discoveryKey,
      retryMaxMs: ms('replicaRetryMaxMs', 30_000, 100),
      refreshItvMs: ms('refreshReplicaConfItvMs', 30_000, 100),
      readTimeoutMs: ms('replicaReadTimeoutMs', 3000, 100)
    }
  }
}
