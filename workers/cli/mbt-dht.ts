#!/usr/bin/env node
/**
 * `npm run dht` (`node dist/workers/cli/mbt-dht.js`): a private HyperDHT for a site without
 * internet access — a bootstrap node bound to `--host`/`--port` plus `--nodes - 1` more
 * (non-ephemeral, so announcements have nodes to live on), all in this process. Prints the
 * bootstrap string (`host:port`) on stdout, the lines to put into the workers' config and the
 * CLI on stderr, and runs until SIGINT/SIGTERM (then exits 0).
 *
 *   npm run dht -- --host 10.0.0.5 --port 49737
 *
 * `--host` must be the IPv4 address the workers and clients reach this machine at (127.0.0.1
 * for one machine); the nodes bind it (127.0.0.1) or every interface (another address).
 */
import { parseArgs } from 'node:util'
import HyperDHT from 'hyperdht'

export const DEFAULT_DHT_PORT = 49737
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/

export interface DhtArgs { host: string, port: number, nodes: number }

const USAGE = `Usage: npm run dht -- [--host <IPv4>] [--port <port>] [--nodes <n>]

Starts a private HyperDHT (a bootstrap node and n - 1 more) for a site without internet access.
  --host <IPv4>   the address workers and clients reach this machine at (default 127.0.0.1)
  --port <port>   the bootstrap node's UDP port (default ${DEFAULT_DHT_PORT})
  --nodes <n>     DHT nodes in this process, 1…16 (default 3)
Prints host:port on stdout; stops on Ctrl-C / SIGTERM.`

/** The command line → the node's address; throws an Error with the message to print (exit 2). */
export function parseDhtArgs (argv: readonly string[]): DhtArgs | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: { host: { type: 'string' }, port: { type: 'string' }, nodes: { type: 'string' }, help: { type: 'boolean', short: 'h' } }
  })
  if (values.help === true) return 'help'
  const host = values.host ?? '127.0.0.1'
  if (!IPV4.test(host) || host === '0.0.0.0') throw new Error(`--host ${host}: an IPv4 address this machine is reached at (not 0.0.0.0)`)
  const port = Number(values.port ?? DEFAULT_DHT_PORT)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port ${values.port ?? ''}: 1…65535`)
  const nodes = Number(values.nodes ?? 3)
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16) throw new Error(`--nodes ${values.nodes ?? ''}: 1…16`)
  return { host, port, nodes }
}

/** The private DHT: the bootstrap node on `host:port`, then the others bootstrapped from it. */
export async function startPrivateDht (args: DhtArgs): Promise<{ bootstrap: string, destroy: () => Promise<void> }> {
  const bindHost = args.host === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0'
  const first = HyperDHT.bootstrapper(args.port, args.host, { host: bindHost })
  const nodes: HyperDHT[] = [first]
  const destroy = async (): Promise<void> => { await Promise.all(nodes.map(async (n) => await n.destroy({ force: true }))) }
  try {
    await first.fullyBootstrapped()
    for (let i = 1; i < args.nodes; i++) {
      const node = new HyperDHT({ ephemeral: false, firewalled: false, bootstrap: [{ host: args.host, port: args.port }], host: bindHost })
      nodes.push(node)
      await node.fullyBootstrapped()
    }
  } catch (err) {
    await destroy()
    throw err
  }
  return { bootstrap: `${args.host}:${args.port}`, destroy }
}

async function main (): Promise<void> {
  let args: DhtArgs | 'help'
  try {
    args = parseDhtArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`mbt-dht: ${(err as Error).message}\nRun npm run dht -- --help for the flags.\n`)
    process.exit(2)
  }
  if (args === 'help') {
    process.stdout.write(USAGE + '\n')
    return
  }
  let dht: Awaited<ReturnType<typeof startPrivateDht>>
  try {
    dht = await startPrivateDht(args)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'EADDRINUSE' ? 'the port is in use' : (err as Error).message
    process.stderr.write(`mbt-dht: cannot start on ${args.host}:${args.port}: ${why}\n`)
    process.exit(1)
  }
  process.stdout.write(`${dht.bootstrap}\n`)
  process.stderr.write(`private HyperDHT on ${dht.bootstrap} (${args.nodes} node${args.nodes === 1 ? '' : 's'}); stop it with Ctrl-C\n` +
    `workers: config/facs/net.config.json → {"r0": {"dhtOpts": {"bootstrap": ["${dht.bootstrap}"]}}}\n` +
    `clients: mbt-rpc --rack <wtype>-<rack> … next to a worker, else mbt-rpc --bn ${dht.bootstrap} -s <key> …\n`)
  let stopping = false
  const stop = (): void => {
    if (stopping) process.exit(1)
    stopping = true
    dht.destroy().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

if (require.main === module) void main()
