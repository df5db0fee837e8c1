/**
 * HTTP control API of the mock servers (worker.md §11):
 *
 *   GET  /things                → 200 [{id, type, host, port, offline, error}]
 *   GET  /thing/:id             → 200 {…info, state, faults, stats}
 *   POST /thing/:id             → 200 {…} after applying a ThingPatch:
 *        {offline: bool} | {state: {..., failReads: [{unit, count}]}} | {registers: [{unit, register, value}]} |
 *        {delayMs} | {exception: {unit, code} | null} | {dropUnit} | {silentUnits: [...]} | {error: bool} |
 *        {flood: framesPerSecond} | {live: {<signal>: {value, amplitude?, periodMs?, noise?} | null}} |
 *        {powerFault: bool}
 *   GET  /thing/:id/writes?since=<seq> → 200 {writes: [{seq, at, unit, fc, register, values, connection}], nextSeq}
 *   POST /thing/:id/reset       → 200 {…} (initial state, no faults, zeroed stats, empty write log)
 *
 * Errors: unparsable JSON → 400 {error: 'ERR_BAD_JSON'}; a body of the wrong shape or with invalid
 * values → 400 {error: 'ERR_BAD_REQUEST' | 'ERR_MOCK_*', message}; unknown id or route → 404
 * {error: 'ERR_NOT_FOUND'}; wrong method → 405; body over 1 MiB → 413.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { z } from 'zod'
import { WrkError } from '../workers/core/errors'
import { validateLivePatch, type LivePatch } from './model/live'
import type { MockServer, ThingPatch } from './types'

export interface ControlServerOptions {
  /** Default 0 (ephemeral). */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
}

export interface MockControlServer {
  /** Bound port once started (the requested one before). */
  readonly port: number
  start: () => Promise<{ port: number }>
  stop: () => Promise<void>
}

const MAX_BODY = 1024 * 1024

const int = z.number().int()
const RegisterPatchSchema = z.object({ unit: int, register: int, value: int }).strict()
const StatePatchSchema = z.object({
  error: z.boolean().optional(),
  systemMainControl: z.boolean().optional(),
  allSockets: z.boolean().optional(),
  sockets: z.array(z.object({ pdu: int, socket: int, enabled: z.boolean() }).strict()).optional(),
  smoke: z.boolean().optional(),
  waterIngress: z.boolean().optional(),
  systemErrorBits: z.array(int).optional(),
  generalErrors: z.array(int).optional(),
  ambientTemperature: z.number().optional(),
  humidity: z.number().optional(),
  registers: z.array(RegisterPatchSchema).optional(),
  failReads: z.array(z.object({ unit: int, count: int }).strict()).optional()
}).strict()
// The rules of an override are validateLivePatch's (model/live.ts): a refusal is ERR_BAD_REQUEST here.
const LivePatchSchema = z.record(z.string(), z.unknown()).superRefine((patch, ctx) => {
  try {
    validateLivePatch(patch as LivePatch)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof WrkError ? err.message.replace(/^live override: /, '') : String(err) })
  }
}).transform((patch) => patch as LivePatch)
const ThingPatchSchema = z.object({
  offline: z.boolean().optional(),
  state: StatePatchSchema.optional(),
  registers: z.array(RegisterPatchSchema).optional(),
  delayMs: int.optional(),
  exception: z.object({ unit: int, code: int }).strict().nullable().optional(),
  dropUnit: int.optional(),
  silentUnits: z.array(int).optional(),
  error: z.boolean().optional(),
  flood: int.optional(),
  live: LivePatchSchema.optional(),
  powerFault: z.boolean().optional()
}).strict()

class HttpError extends Error {
  constructor (readonly status: number, readonly code: string, message?: string) {
    super(message ?? code)
  }
}

function send (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > MAX_BODY) throw new HttpError(413, 'ERR_BODY_TOO_LARGE')
    chunks.push(buf)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function readPatch (req: IncomingMessage): Promise<ThingPatch> {
  const text = await readBody(req)
  let json: unknown = {}
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text)
    } catch {
      throw new HttpError(400, 'ERR_BAD_JSON')
    }
  }
  const parsed = ThingPatchSchema.safeParse(json)
  if (!parsed.success) {
    throw new HttpError(400, 'ERR_BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '))
  }
  return parsed.data
}

/** `?since=` of the write log: absent → 0, else one decimal integer >= 0. */
function parseSince (url: URL): number {
  const all = url.searchParams.getAll('since')
  if (all.length === 0) return 0
  const text = all[0] as string
  if (all.length > 1 || !/^\d{1,15}$/.test(text)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'since must be one integer >= 0')
  return Number(text)
}

function details (s: MockServer): Record<string, unknown> {
  return { ...s.info(), state: s.state.summary(), faults: s.faults, stats: s.stats, connections: s.connectionCount }
}

/** The control API over `servers` (keyed by `server.id`); not listening until `start()`. */
export function createControlServer (servers: readonly MockServer[], opts: ControlServerOptions = {}): MockControlServer {
  const host = opts.host ?? '127.0.0.1'
  let port = opts.port ?? 0
  const byId = new Map(servers.map((s) => [s.id, s]))
  let http: Server | undefined

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname.replace(/\/+$/, '')
    const method = req.method ?? 'GET'
    if (path === '/things') {
      if (method !== 'GET') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED')
      send(res, 200, servers.map((s) => s.info()))
      return
    }
    const m = /^\/thing\/([^/]+)(\/reset|\/writes)?$/.exec(path)
    if (m === null) throw new HttpError(404, 'ERR_NOT_FOUND')
    const server = byId.get(decodeURIComponent(m[1] as string))
    if (server === undefined) throw new HttpError(404, 'ERR_NOT_FOUND', `no thing ${m[1] as string}`)
    if (m[2] === '/writes') {
      if (method !== 'GET') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED')
      send(res, 200, server.writes(parseSince(url)))
      return
    }
    if (m[2] !== undefined) {
      if (method !== 'POST') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED')
      server.reset()
      send(res, 200, details(server))
      return
    }
    if (method === 'GET') {
      send(res, 200, details(server))
      return
    }
    if (method !== 'POST') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED')
    const patch = await readPatch(req)
    await server.apply(patch)
    send(res, 200, details(server))
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        send(res, err.status, err.message === err.code ? { error: err.code } : { error: err.code, message: err.message })
      } else if (err instanceof WrkError) {
        const status = /^ERR_MOCK_(BAD|INVALID)_/.test(err.code) ? 400 : 500
        send(res, status, { error: err.code, message: err.message })
      } else {
        send(res, 500, { error: 'ERR_INTERNAL' })
      }
    })
  }

  return {
    get port () {
      return port
    },
    async start () {
      if (http !== undefined) return { port }
      const srv = createHttpServer(onRequest)
      await new Promise<void>((resolve, reject) => {
        srv.once('error', (err: NodeJS.ErrnoException) => {
          reject(new WrkError('ERR_MOCK_LISTEN', `control API cannot listen on ${host}:${port} (${err.code ?? 'unknown'})`, { cause: err }))
        })
        srv.listen(port, host, () => resolve())
      })
      http = srv
      port = (srv.address() as AddressInfo).port
      return { port }
    },
    async stop () {
      const srv = http
      http = undefined
      if (srv === undefined) return
      await new Promise<void>((resolve) => {
        srv.close(() => resolve())
        srv.closeAllConnections()
      })
    }
  }
}
