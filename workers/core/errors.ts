/**
 * Errors crossing a layer boundary carry a stable `ERR_*` code. The RPC layer replies with
 * `[HRPC_ERR]=<code>`; the message is for logs and must never contain secrets.
 */
export class WrkError extends Error {
  readonly code: string

  constructor (code: string, message?: string, options?: { cause?: unknown }) {
    super(message ?? code, options)
    this.name = 'WrkError'
    this.code = code
  }
}

/** The `ERR_*` code of any thrown value; unknown failures map to `fallback`. */
export function errorCode (err: unknown, fallback = 'ERR_INTERNAL'): string {
  if (err instanceof WrkError) return err.code
  if (err !== null && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code
    if (typeof code === 'string' && code.startsWith('ERR_')) return code
  }
  if (err instanceof Error && /^ERR_[A-Z0-9_]+$/.test(err.message)) return err.message
  return fallback
}
