/**
 * What `mbt-rpc` prints: a reply (indented or raw JSON, or a table: ./table.ts) and a failure
 * line, every text from the server escaped (./input.ts escapeControls).
 */
import { escapeControls } from './input'

/** Characters of a server's error code printed before it is cut (codes are short names). */
export const MAX_CODE_CHARS = 200

/**
 * A reply for stdout: indented JSON, or the text as the worker sent it — both with control
 * characters escaped (the same JSON: in valid JSON text they can only be in strings, or be
 * whitespace: a carriage return is printed as a space).
 */
export function formatReply (outcome: { value: unknown, text: string }, pretty: boolean): string {
  return pretty ? escapeControls(JSON.stringify(outcome.value, null, 2), '\n') : escapeControls(outcome.text.replace(/\r/g, ' '), '\n\t')
}

/** A server's error code for one line: control characters escaped, cut past MAX_CODE_CHARS. */
function printableCode (code: string): string {
  const cut = code.length > MAX_CODE_CHARS ? `${code.slice(0, MAX_CODE_CHARS)}… (${code.length} characters)` : code
  return escapeControls(cut)
}

/** The stderr line(s) of a failed request: the code first (what the server sent is escaped). */
export function formatFailure (outcome: { kind: 'reply' | 'transport', code: string, message: string }): string {
  const code = printableCode(outcome.code)
  const message = escapeControls(outcome.message)
  if (outcome.kind === 'reply') return message === '' ? code : `${code}: ${message}`
  const hint = /TIMEOUT|CONNECT/.test(outcome.code)
    ? '\nhint: is the worker running, is --bn its DHT bootstrap (r0.dhtOpts), and is this client allowed (r0.allow, --seed-file)?'
    : ''
  return `${code}: ${message}${hint}`
}
