import HyperDHT, { type DHTNodeAddress } from 'hyperdht'
import RPC from '@hyperswarm/rpc'
import { WrkError } from '../workers/tpl/errors'

/**
 * A JSON RPC client speaking the `hp-rpc-cli` wire format: the request is JSON text in a
 * buffer, the reply is JSON text; a reply `"[HRPC_ERR]=<CODE>"` becomes a WrkError.
 */
export class RpcClient {
  private readonly dht: HyperDHT
  private readonly rpc: RPC

  constructor (bootstrap?: DHTNodeAddress[], host?: string) {
    this.dht = new HyperDHT({ bootstrap, host })
    this.rpc = new RPC({ dht: this.dht })
  }

  async request<T = unknown> (publicKeyHex: string, method: string, data: unknown = {}, timeoutMs = 10_000): Promise<T> {
    const reply = await this.rpc.request(Buffer.from(publicKeyHex, 'hex'), method, Buffer.from(JSON.stringify(data)), { timeout: timeoutMs })
    const value: unknown = JSON.parse(reply.toString())
    if (typeof value === 'string' && value.startsWith('[HRPC_ERR]=')) throw new WrkError(value.slice('[HRPC_ERR]='.length))
    return value as T
  }

  async close (): Promise<void> {
    await this.rpc.destroy()
    await this.dht.destroy()
  }
}
