/**
 * `miningos-net` facility: the site's MiningOS DHCP service, reached over `@hyperswarm/rpc`
 * with the worker's shared RPC client (`facs/miningos-net.config.json`, section `n0`).
 *
 *   setIp {mac, subnet, forceSetIp} → the IP address (a string)
 *   releaseIp {ip}
 *
 * Every call is bounded by `dhcpTimeoutMs` (connecting included) and fails with one of the
 * `ERR_DHCP_*` codes; nothing here retries (the caller decides when to ask again).
 */
import { isIP } from 'node:net'
import { Facility } from './facility'
import type { NetFacility } from './net'
import { WrkError, errorCode } from '../core/errors'
import { RpcReplyError } from '../rpc/codec'
import type { KeySpec } from '../core/config-keys'

export interface MiningOsNetConf {
  /** RPC public key of the DHCP service (hex); empty or absent = no DHCP service. */
  dhcpRpcPublicKey: string | null
  /** Bound of one DHCP call, connecting included. */
  dhcpTimeoutMs: number
  /** Longest pause between two attempts for a thing that failed again and again. */
  dhcpRetryMaxMs: number
}

export const MININGOS_NET_DEFAULTS: MiningOsNetConf = {
  dhcpRpcPublicKey: null,
  dhcpTimeoutMs: 5000,
  dhcpRetryMaxMs: 600_000
}

/** The keys of facs/miningos-net.config.json the worker reads. */
export const MININGOS_NET_CONF_KEYS: KeySpec = { n0: Object.fromEntries(Object.keys(MININGOS_NET_DEFAULTS).map((k) => [k, true])) }

function invalid (what: string): WrkError {
  return new WrkError('ERR_CONFIG_INVALID', `config facs/miningos-net.config.json: ${what}`)
}

/** The `n0` section over the defaults; a key that is set must be 64 hex characters. */
export function parseMiningOsNetConf (section: unknown): MiningOsNetConf {
  const raw = (section !== null && typeof section === 'object' ? section : {}) as Record<string, unknown>
  const out: MiningOsNetConf = { ...MININGOS_NET_DEFAULTS }
  const key = raw.dhcpRpcPublicKey
  if (key !== undefined && key !== null && key !== '') {
    if (typeof key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(key)) throw invalid('n0.dhcpRpcPublicKey must be 64 hex characters (or empty)')
    out.dhcpRpcPublicKey = key.toLowerCase()
  }
  for (const [name, min] of [['dhcpTimeoutMs', 100], ['dhcpRetryMaxMs', 0]] as const) {
    const v = raw[name]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw invalid(`n0.${name} must be an integer ≥ ${min}`)
    out[name] = v
  }
  return out
}

export interface DhcpRequest { mac: string, subnet: string, forceSetIp: boolean }

export class MiningOsNetFacility extends Facility {
  readonly name = 'miningos-net'
  override readonly dependsOn = ['net']

  constructor (readonly conf: MiningOsNetConf, private readonly net: NetFacility) {
    super()
  }

  /** Whether a DHCP service is configured at all. */
  get configured (): boolean {
    return this.conf.dhcpRpcPublicKey !== null
  }

  /** The address the DHCP service assigns to `mac` in `subnet`. */
  async setIp (req: DhcpRequest): Promise<string> {
    const ip = await this.call('setIp', { mac: req.mac, subnet: req.subnet, forceSetIp: req.forceSetIp })
    if (typeof ip !== 'string' || isIP(ip) === 0) throw new WrkError('ERR_DHCP_REPLY_INVALID', 'setIp did not answer an IP address')
    return ip
  }

  async releaseIp (ip: string): Promise<void> {
    await this.call('releaseIp', { ip })
  }

  private async call (method: string, payload: Record<string, unknown>): Promise<unknown> {
    const key = this.conf.dhcpRpcPublicKey
    if (key === null) throw new WrkError('ERR_DHCP_NOT_CONFIGURED', 'facs/miningos-net.config.json has no n0.dhcpRpcPublicKey')
    try {
      return await this.net.request(Buffer.from(key, 'hex'), method, payload, this.conf.dhcpTimeoutMs)
    } catch (err) {
      if (err instanceof RpcReplyError) {
        throw new WrkError('ERR_DHCP_REJECTED', `${method}: the DHCP service answered ${err.code}`, { cause: err })
      }
      const code = errorCode(err, '')
      if (code === 'ERR_RPC_TIMEOUT') {
        throw new WrkError('ERR_DHCP_TIMEOUT', `${method}: no reply within ${this.conf.dhcpTimeoutMs} ms`, { cause: err })
      }
      throw new WrkError(
        'ERR_DHCP_UNREACHABLE',
        `${method}: the DHCP service cannot be reached (${code || (err as Error).message})`,
        { cause: err }
      )
    }
  }
}
