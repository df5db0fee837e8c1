/**
 * The RPC reference, derived from the method declarations and the error catalogue: the
 * OpenRPC 1.x document (`docs/openrpc.json`) and the generated tables of `docs/rpc.md`.
 */
import { z } from 'zod'
import type { ErrorCatalogue } from '../core/error-catalogue'
import { DISPATCH_ERRORS, HEAVY_ERRORS, type RpcMethod } from './method'

type JsonSchema = Record<string, unknown>

function jsonSchema (schema: z.ZodType): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema
  return rest
}

function kindText (decl: RpcMethod): string {
  return typeof decl.kind === 'function' ? 'read for declared read methods, else write' : decl.kind
}

/** The request's top-level fields as OpenRPC by-name params (one `payload` param without a schema). */
function params (decl: RpcMethod): JsonSchema[] {
  if (!decl.params) return [{ name: 'payload', required: false, schema: {} }]
  const schema = jsonSchema(decl.params)
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((schema.required ?? []) as string[])
  return Object.entries(props).map(([name, s]) => ({ name, required: required.has(name), schema: s }))
}

/** An OpenRPC document of every method; errors carry the ERR_* code as their message. */
export function openRpcDocument (
  info: { title: string, version: string, description: string }, decls: RpcMethod[], catalogue: ErrorCatalogue
): JsonSchema {
  return {
    openrpc: '1.2.6',
    info,
    methods: decls.map((decl) => ({
      name: decl.name,
      summary: decl.summary,
      paramStructure: 'by-name',
      params: params(decl),
      result: { name: 'result', schema: jsonSchema(decl.result) },
      errors: [...new Set([...decl.errors, ...(decl.heavy ? HEAVY_ERRORS : []), ...DISPATCH_ERRORS])]
        .map((code) => ({ code: -32000, message: code, data: catalogue[code] ?? '' })),
      'x-kind': kindText(decl)
    }))
  }
}

function fieldsOf (decl: RpcMethod): string {
  if (!decl.params) return 'any JSON'
  const ps = params(decl)
  return ps.length === 0 ? '—' : '`{' + ps.map((p) => `${String(p.name)}${p.required === true ? '' : '?'}`).join(', ') + '}`'
}

/** The method table of docs/rpc.md. */
export function methodTable (decls: RpcMethod[]): string {
  const rows = decls.map((d) => `| \`${d.name}\` | ${kindText(d)}${d.heavy ? ' (heavy)' : ''} | ${fieldsOf(d)} | ${d.summary} | ` +
    `${[...d.errors, ...(d.heavy ? HEAVY_ERRORS : [])].map((e) => `\`${e}\``).join(', ')} |`)
  return ['| method | kind | request | what it does | errors (besides the dispatcher\'s) |', '|---|---|---|---|---|', ...rows].join('\n')
}

/** The error table of docs/rpc.md, sorted by code. */
export function errorTable (catalogue: ErrorCatalogue): string {
  const rows = Object.keys(catalogue).sort().map((code) => `| \`${code}\` | ${catalogue[code]} |`)
  return ['| code | meaning |', '|---|---|', ...rows].join('\n')
}

/** `md` with the text between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` replaced. */
export function replaceGenerated (md: string, name: string, content: string): string {
  const open = `<!-- generated:${name} -->`
  const close = `<!-- /generated:${name} -->`
  const start = md.indexOf(open)
  const end = md.indexOf(close)
  if (start < 0 || end < start) throw new Error(`docs: no ${open} … ${close} section`)
  return `${md.slice(0, start + open.length)}\n${content}\n${md.slice(end)}`
}
