/**
 * How a time-log entry's value is stored (the Hyperbee value of `log:<key>:<generation>`).
 *
 * - A value whose JSON text is shorter than COMPRESS_FROM_BYTES is stored as that JSON text:
 *   byte for byte what Hyperbee's `json` value encoding wrote before this codec existed.
 * - A longer one is stored as the byte 0x00, a format byte, then the JSON text compressed.
 *   Format 0x62 ('b'): Brotli (node:zlib, quality 5, text mode). A JSON text never starts with
 *   0x00, so the two can never be confused: entries written before (plain JSON) and after
 *   (either kind) are read alike, and nothing written before is lost.
 *
 * Decoding parses the very JSON text that was stored, so a reader gets exactly the value the
 * old encoding gave (`JSON.parse(JSON.stringify(value))`). Every reader of the logs — the
 * master's `tailLog`, the restore of `last`, the alert and stat readers, and the read replicas,
 * which read the same generations — goes through `TimeLogs`, which is where this codec is
 * applied (./time-log.ts); nothing else reads log values.
 *
 * A `thing-5m` snapshot entry (~25 kB of JSON) is stored in ~1.5–2 kB.
 */
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib'

/** JSON texts at least this long (in bytes) are stored compressed. */
export const COMPRESS_FROM_BYTES = 1024

/** First byte of a compressed value (never the first byte of a JSON text). */
export const COMPRESSED_MARK = 0x00
/** Format byte: Brotli. */
export const FORMAT_BROTLI = 0x62

/** Hyperbee value encoding for log entries: the bytes are this codec's. */
export const RAW_VALUE = { valueEncoding: 'binary' } as const

const BROTLI_OPTS = {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 5,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT
  }
}

/** Largest JSON text a compressed value may inflate to (a bound against a corrupt or hostile block). */
const MAX_DECODED_BYTES = 64 * 1024 * 1024

/** The stored bytes of a log value given its JSON text (see the module comment). */
export function encodeLogValue (json: string): Buffer {
  const text = Buffer.from(json)
  if (text.length < COMPRESS_FROM_BYTES) return text
  const params = { ...BROTLI_OPTS.params, [constants.BROTLI_PARAM_SIZE_HINT]: text.length }
  const packed = brotliCompressSync(text, { ...BROTLI_OPTS, params })
  const out = Buffer.allocUnsafe(packed.length + 2)
  out[0] = COMPRESSED_MARK
  out[1] = FORMAT_BROTLI
  packed.copy(out, 2)
  return out
}

/** The value of stored bytes: plain JSON text (any entry written before the codec) or a compressed value. */
export function decodeLogValue (raw: Buffer | Uint8Array | null | undefined): unknown {
  if (raw === null || raw === undefined) return null
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  if (buf.length === 0 || buf[0] !== COMPRESSED_MARK) return JSON.parse(buf.toString())
  if (buf[1] !== FORMAT_BROTLI) throw undecodable(`a log value in an unknown format (0x${(buf[1] ?? 0).toString(16)})`)
  let text: Buffer
  try {
    text = brotliDecompressSync(buf.subarray(2), { maxOutputLength: MAX_DECODED_BYTES })
  } catch (err) {
    throw undecodable(`a compressed log value does not decompress: ${(err as Error).message}`, err)
  }
  return JSON.parse(text.toString())
}

/**
 * The error of a value that cannot be decoded: Hyperbee's code for a block that does not
 * decode, so that the time logs treat it as they treat any corrupt generation (skipped by
 * reads, left behind by writes, reported).
 */
function undecodable (message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, { cause }), { code: 'DECODING_ERROR' })
}

/** Whether stored bytes are a compressed value (for tests and the storage benchmark). */
export function isCompressed (raw: Buffer): boolean {
  return raw.length > 1 && raw[0] === COMPRESSED_MARK
}
