/**
 * A stand-in for the MiningOS DHCP service: a real `@hyperswarm/rpc` server on the loopback
 * testnet answering `setIp {mac, subnet, forceSetIp}` and `releaseIp {ip}` in the wire format
 * of the worker (JSON text, `"[HRPC_ERR]=…"` for errors). It records every call and can fail on
 * demand: an error reply, a reply that is no IP address, or a reply later than any timeout.
 * `stop()` takes it off the network (unreachable); `start()` serves the same key again.
 */
import HyperDHT, { type DHTNodeAddress, type KeyPair } from 'hyperdht'
import RPC, { type Server } from '@hyperswarm/rpc'
import { sleep } from './index'

export interface DhcpCall {
  method: 'setIp' | 'releaseIp'
  req: Record<string, unknown>
  ts: number
}

/** ok: answers; error: `[HRPC_ERR]=ERR_DHCP_NO_FREE_IP`; invalid: a reply that is no IP; slow: answers after `slowMs`. */
export type DhcpMode = 'ok' | 'error' | 'invalid' | 'slow'

const instances = new Set<DhcpStandIn>()

export class DhcpStandIn {
  readonly calls: DhcpCall[] = []
  mode: DhcpMode = 'ok'
  slowMs = 30_000
  /** Fixed answers by MAC; otherwise 127.0.0.<n> counting from 10. */
  readonly ipByMac = new Map<string, string>()
  private next = 10
  private readonly keyPair: KeyPair = HyperDHT.keyPair()
  private dht: HyperDHT | null = null
  private rpc: RPC | null = null
  private server: Server | null = null
  private readonly pending = new Set<NodeJS.Timeout>()

  constructor (private readonly bootstrap: DHTNodeAddress[]) {
    instances.add(this)
  }

  get publicKey (): string {
    return this.keyPair.publicKey.toString('hex')
  }

  setCalls (): DhcpCall[] {
    return this.calls.filter((c) => c.method === 'setIp')
  }

  releaseCalls (): DhcpCall[] {
    return this.calls.filter((c) => c.method === 'releaseIp')
  }

  async start (): Promise<this> {
    if (this.server) return this
    this.dht = new HyperDHT({ bootstrap: this.bootstrap, host: '127.0.0.1' })
    await this.dht.ready()
    this.rpc = new RPC({ dht: this.dht, keyPair: this.keyPair })
    this.server = this.rpc.createServer()
    this.server.respond('setIp', (raw) => this.answer('setIp', raw))
    this.server.respond('releaseIp', (raw) => this.answer('releaseIp', raw))
    await this.server.listen(this.keyPair)
    return this
  }

  /** Off the network: calls fail to connect. */
  async stop (): Promise<void> {
    const { server, rpc, dht } = this
    this.server = null
    this.rpc = null
    this.dht = null
    for (const t of this.pending) clearTimeout(t)
    this.pending.clear()
    if (server) await server.close()
    if (rpc) await rpc.destroy({ force: true })
    if (dht) await dht.destroy({ force: true })
  }

  private async answer (method: 'setIp' | 'releaseIp', raw: Buffer | null): Promise<Buffer> {
    const req = JSON.parse(raw ? raw.toString() : '{}') as Record<string, unknown>
    this.calls.push({ method, req, ts: Date.now() })
    const mode = this.mode
    if (mode === 'slow') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.pending.delete(t); resolve() }, this.slowMs)
        this.pending.add(t)
      })
    }
    if (mode === 'error') return Buffer.from(JSON.stringify('[HRPC_ERR]=ERR_DHCP_NO_FREE_IP'))
    if (method === 'releaseIp') return Buffer.from(JSON.stringify(1))
    if (mode === 'invalid') return Buffer.from(JSON.stringify({ not: 'an address' }))
    const mac = String(req.mac)
    let ip = this.ipByMac.get(mac)
    if (ip === undefined) {
      ip = `127.0.0.${this.next++}`
      this.ipByMac.set(mac, ip)
    }
    return Buffer.from(JSON.stringify(ip))
  }

  /** Waits until `n` calls of `method` were recorded (generous bound). */
  async waitCalls (method: 'setIp' | 'releaseIp', n: number, timeoutMs = 15_000): Promise<DhcpCall[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const calls = this.calls.filter((c) => c.method === method)
      if (calls.length >= n) return calls
      if (Date.now() > deadline) throw new Error(`DHCP stand-in: ${calls.length} ${method} calls, expected ${n} within ${timeoutMs} ms`)
      await sleep(25)
    }
  }
}

/** Stops every stand-in (call from afterAll next to cleanupAll). */
export async function stopDhcpStandIns (): Promise<void> {
  const all = [...instances]
  instances.clear()
  await Promise.all(all.map(async (d) => await d.stop().catch(() => {})))
}
