/**
 * What `mbt-rpc` reads and prints that it does not trust: text from a server (control
 * characters — C0, DEL, C1, so every ESC sequence, bidi overrides, line separators — printed
 * escaped, `\u001b`: escapeControls) and files (`-f`, `--status-file`, `-f -`, a seed file):
 * regular files only (never a FIFO, device or folder, which could block or never end), at most
 * MAX_INPUT_BYTES.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs'
import { DEFAULT_MAX_REQUEST_BYTES } from '../rpc/limits'

/** Bound of a file the CLI reads (a request, a status file, standard input): the worker's request limit. */
export const MAX_INPUT_BYTES = DEFAULT_MAX_REQUEST_BYTES

/** C0, DEL, C1, the bidi embeddings/overrides/isolates and U+2028/U+2029. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * `text` safe for a terminal: each control character as `\uXXXX` (ESC → `\u001b`), except
 * those in `keep` (e.g. the newlines of indented JSON). Inside a JSON string this spelling means
 * the same character, so escaped JSON stays the same JSON.
 */
export function escapeControls (text: string, keep = ''): string {
  return text.replace(CONTROL, (c) => keep.includes(c) ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A file the CLI refuses to read (not a regular file, too large); the message completes "file X is …". */
export class InputRefused extends Error {
  constructor (readonly reason: string) {
    super(reason)
    this.name = 'InputRefused'
  }
}

function kindOf (st: Stats): string {
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO (named pipe)'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  if (st.isSocket()) return 'a socket'
  return 'not a regular file'
}

function tooLarge (maxBytes: number): InputRefused {
  return new InputRefused(`larger than ${maxBytes} bytes (the worker's request limit)`)
}

/** Reads from `fd` until its end, failing past `maxBytes`. */
function readBounded (fd: number, maxBytes: number): Buffer {
  const chunks: Buffer[] = []
  let total = 0
  const buf = Buffer.alloc(64 * 1024)
  for (;;) {
    let n: number
    try {
      n = readSync(fd, buf, 0, buf.length, null)
    } catch (err) {
      // a non-blocking standard input with nothing yet: wait a little, read again
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
        continue
      }
      throw err
    }
    if (n === 0) break
    total += n
    if (total > maxBytes) throw tooLarge(maxBytes)
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
  return Buffer.concat(chunks, total)
}

/**
 * A regular file's text, at most `maxBytes`: a FIFO, a device, a socket or a folder is refused
 * before it is opened (opening a FIFO waits for a writer, a device may never end), and again
 * after (it may have been swapped meanwhile). Errno failures are thrown as they are; the others
 * as InputRefused.
 */
export function readInputFile (file: string, maxBytes = MAX_INPUT_BYTES): string {
  const before = statSync(file)
  if (!before.isFile()) throw new InputRefused(`${kindOf(before)}, not a regular file`)
  if (before.size > maxBytes) throw tooLarge(maxBytes)
  const fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0))
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new InputRefused(`${kindOf(st)}, not a regular file`)
    // read up to the bound whatever the size said (files of /proc say 0, a file may grow)
    return readBounded(fd, maxBytes).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

/** Standard input (`-f -`), at most `maxBytes`: a pipe is fine, an endless one is cut off. */
export function readStdinBounded (maxBytes = MAX_INPUT_BYTES): string {
  return readBounded(0, maxBytes).toString('utf8')
}

/** Why reading failed, for "cannot read …": the errno code, or the refusal. */
export function readFailure (what: string, err: unknown): string {
  if (err instanceof InputRefused) {
    const hint = what.startsWith('file ') ? ' (give a regular file, or -f - for standard input)' : ''
    return `${what} is ${err.reason}${hint}`
  }
  return `cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`
}
