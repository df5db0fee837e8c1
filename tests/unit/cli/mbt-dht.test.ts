/** `npm run dht` (workers/cli/mbt-dht.ts): its flags, and a private DHT that a node can bootstrap from. */
import HyperDHT from 'hyperdht'
import { describe, expect, it } from 'vitest'
import { DEFAULT_DHT_PORT, parseDhtArgs, startPrivateDht } from '../../../workers/cli/mbt-dht'

describe('parseDhtArgs', () => {
  it('defaults to 127.0.0.1:49737 and 3 nodes; takes --host, --port, --nodes', () => {
    expect(parseDhtArgs([])).toEqual({ host: '127.0.0.1', port: DEFAULT_DHT_PORT, nodes: 3 })
    expect(parseDhtArgs(['--host', '10.0.0.5', '--port', '40000', '--nodes', '1'])).toEqual({ host: '10.0.0.5', port: 40000, nodes: 1 })
    expect(parseDhtArgs(['-h'])).toBe('help')
  })

  it('refuses what no one could reach: 0.0.0.0, a name, a bad port or node count, an unknown flag', () => {
    expect(() => parseDhtArgs(['--host', '0.0.0.0'])).toThrow(/--host 0\.0\.0\.0: an IPv4 address/)
    expect(() => parseDhtArgs(['--host', 'dht.local'])).toThrow(/--host dht\.local/)
    expect(() => parseDhtArgs(['--port', '0'])).toThrow(/--port 0: 1…65535/)
    expect(() => parseDhtArgs(['--port', 'x'])).toThrow(/--port x/)
    expect(() => parseDhtArgs(['--nodes', '17'])).toThrow(/--nodes 17: 1…16/)
    expect(() => parseDhtArgs(['--nope'])).toThrow(/Unknown option/)
  })
})

describe('startPrivateDht', () => {
  it('a node bootstrapped from it finds the others; the port taken is an error', async () => {
    const port = 30_000 + Math.floor(Math.random() * 20_000)
    const dht = await startPrivateDht({ host: '127.0.0.1', port, nodes: 3 })
    try {
      expect(dht.bootstrap).toBe(`127.0.0.1:${port}`)
      const node = new HyperDHT({ bootstrap: [dht.bootstrap], host: '127.0.0.1' })
      await node.fullyBootstrapped()
      expect(node.toArray().length).toBeGreaterThanOrEqual(2)
      await node.destroy()
      await expect(startPrivateDht({ host: '127.0.0.1', port, nodes: 1 })).rejects.toThrow()
    } finally {
      await dht.destroy()
    }
  }, 30_000)
})
