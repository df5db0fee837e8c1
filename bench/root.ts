/**
 * A throw-away project root for the benchmarks: `config/` from the repository's `*.example`
 * files with the DHT pointed at a local testnet on 127.0.0.1 (nothing leaves the machine).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import createTestnet from 'hyperdht/testnet'

const REPO = path.resolve(__dirname, '..', '..')

export interface BenchRoot {
  root: string
  bootstrap: Array<{ host: string, port: number }>
  close: () => Promise<void>
}

/** `baseThing` is merged over base.thing.json.example (top-level keys). */
export async function benchRoot (baseThing: Record<string, unknown> = {}): Promise<BenchRoot> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const root = await mkdtemp(path.join(os.tmpdir(), 'mbt-bench-'))
  await mkdir(path.join(root, 'config', 'facs'), { recursive: true })
  await copyFile(path.join(REPO, 'config', 'common.json.example'), path.join(root, 'config', 'common.json'))
  const thing = JSON.parse(await readFile(path.join(REPO, 'config', 'base.thing.json.example'), 'utf8')) as Record<string, unknown>
  await writeFile(path.join(root, 'config', 'base.thing.json'), JSON.stringify({ ...thing, ...baseThing }))
  const net = JSON.parse(await readFile(path.join(REPO, 'config', 'facs', 'net.config.json.example'), 'utf8')) as { r0: Record<string, unknown> }
  const bootstrap = testnet.bootstrap.map(({ host, port }) => ({ host, port }))
  net.r0.dhtOpts = { bootstrap, host: '127.0.0.1' }
  await writeFile(path.join(root, 'config', 'facs', 'net.config.json'), JSON.stringify(net))
  return {
    root,
    bootstrap,
    close: async () => {
      await rm(root, { recursive: true, force: true })
      await testnet.destroy()
    }
  }
}
