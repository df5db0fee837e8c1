/** Waiting in tests: a plain sleep and a polling wait (no network or worker imports, for unit tests too). */

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned) or `timeoutMs` passes
 * (rejects, quoting the last error the predicate threw, if any). Thrown errors count as "not yet".
 */
export async function waitFor<T> (
  predicate: () => T | Promise<T>,
  timeoutMs = 5000,
  intervalMs = 25
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown = null
  for (;;) {
    try {
      const value = await predicate()
      if (value) return value as NonNullable<T>
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : ''
      throw new Error(`waitFor: condition not met within ${timeoutMs} ms${why}`)
    }
    await sleep(intervalMs)
  }
}
