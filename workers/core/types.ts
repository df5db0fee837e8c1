/** A JSON object: requests, records, snapshots, documents of queries. */
export type JsonObject = Record<string, unknown>

/** The slice of a pino logger that lower layers use, so they can be tested without pino. */
export interface Logger {
  debug: (obj: object | string, msg?: string) => void
  info: (obj: object | string, msg?: string) => void
  warn: (obj: object | string, msg?: string) => void
  error: (obj: object | string, msg?: string) => void
}

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {}
}
