/**
 * The mock's command line: flags, the bulk file (one server per entry), the control API wiring.
 * `node dist/mock/server.js …` runs it (./server.ts); the server factory is handed in, so this
 * module does not import the server.
 */
import { readFileSync } from 'node:fs'
import yargs from 'yargs'
import { z } from 'zod'
import { WrkError } from '../workers/core/errors'
import { createControlServer, type MockControlServer } from './control'
import { MOCK_DEFAULT_HOST, MOCK_DEFAULT_PORT, type CreateServerOptions, type MockServer } from './types'

const BulkEntry = z.object({
  type: z.string(),
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().optional(),
  error: z.boolean().optional(),
  id: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  seed: z.number().int().optional()
})
const BulkFile = z.array(BulkEntry)

export interface MockCliOptions {
  /** Where the one-line-per-server startup log goes (default console.log). */
  log?: (line: string) => void
}

export interface MockCli {
  servers: MockServer[]
  control: MockControlServer | undefined
  /** Stops every server and the control API. */
  stop: () => Promise<void>
}

function readBulk (file: string): Array<z.infer<typeof BulkEntry>> {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new WrkError('ERR_MOCK_BAD_BULK', `cannot read bulk file ${file}: ${err instanceof Error ? err.message : String(err)}`)
  }
  const parsed = BulkFile.safeParse(raw)
  if (!parsed.success) {
    throw new WrkError(
      'ERR_MOCK_BAD_BULK',
      `bulk file ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`
    )
  }
  return parsed.data
}

/**
 * The mock CLI without process handling: parses `argv` (already without node and the script),
 * starts the servers (and the control API) and resolves once all listen. Throws WrkError on bad
 * arguments (ERR_MOCK_BAD_ARGS, ERR_MOCK_INVALID_TYPE, ERR_MOCK_BAD_BULK) or ERR_MOCK_LISTEN.
 */
export async function runCli (
  argv: readonly string[], createServer: (opts: CreateServerOptions) => MockServer, opts: MockCliOptions = {}
): Promise<MockCli> {
  const log = opts.log ?? ((line: string) => console.log(line))
  const args = yargs([...argv])
    .scriptName('mock-server')
    .usage('$0 --type Kehua|Wonderint [-p 5020] [-h 127.0.0.1] [--error] [--bulk file.json] [--mockControlPort N]')
    .option('type', { type: 'string', description: 'container type: Kehua or Wonderint' })
    .option('port', { alias: 'p', type: 'number', default: MOCK_DEFAULT_PORT, description: 'Modbus TCP port (0 = ephemeral)' })
    .option('host', { alias: 'h', type: 'string', default: MOCK_DEFAULT_HOST, description: 'address to listen on' })
    .option('error', { type: 'boolean', default: false, description: 'set system error bits 0–15 and a general error flag' })
    .option('bulk', { type: 'string', description: 'JSON file: [{type, port, host, error}], one server per entry' })
    .option('mockControlPort', { type: 'number', description: 'HTTP port of the control API' })
    .option('mockControlHost', { type: 'string', default: MOCK_DEFAULT_HOST, description: 'address of the control API' })
    .option('username', { type: 'string', default: 'admin', description: 'authentication username' })
    .option('password', { type: 'string', default: 'admin', description: 'authentication password' })
    .option('seed', { type: 'number', description: 'seed of initial values and drift' })
    .strict()
    .help('help')
    .version(false)
    .exitProcess(false)
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw err ?? new WrkError('ERR_MOCK_BAD_ARGS', msg ?? 'invalid arguments')
    })
    .parseSync()

  if (argv.includes('--help')) return { servers: [], control: undefined, stop: async () => {} }

  const entries: CreateServerOptions[] = args.bulk !== undefined
    ? readBulk(args.bulk).map((e, i) => ({
      username: args.username,
      password: args.password,
      seed: args.seed,
      ...e,
      id: e.id ?? String(i)
    }))
    : [{
        type: args.type ?? '',
        port: args.port,
        host: args.host,
        error: args.error,
        username: args.username,
        password: args.password,
        seed: args.seed,
        id: '0'
      }]
  if (args.bulk === undefined && args.type === undefined) {
    throw new WrkError('ERR_MOCK_INVALID_TYPE', 'missing --type (Kehua or Wonderint)')
  }
  // Validate every entry before starting anything.
  const servers = entries.map((e) => createServer(e))
  const control = args.mockControlPort !== undefined
    ? createControlServer(servers, { port: args.mockControlPort, host: args.mockControlHost })
    : undefined
  const stop = async (): Promise<void> => {
    await Promise.all([...servers.map(async (s) => await s.exit()), control?.stop()])
  }
  try {
    for (const s of servers) {
      await s.start()
      log(`mock ${s.id}: ${s.type} container listening on ${s.host}:${s.port}${s.state.error ? ' (error mode)' : ''}`)
    }
    if (control !== undefined) {
      const { port } = await control.start()
      log(`mock control API on http://${args.mockControlHost}:${port}`)
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { servers, control, stop }
}
