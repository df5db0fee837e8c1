/**
 * A facility is one piece of infrastructure a worker owns (store, net, logger…). Facilities
 * start in ascending `priority` and stop in the reverse order of their start.
 */
export interface Facility {
  readonly name: string
  readonly priority: number
  start: () => Promise<void>
  stop: () => Promise<void>
}

/** Starts facilities by priority; on failure stops those already started, then rethrows. */
export async function startFacilities (facs: Facility[]): Promise<Facility[]> {
  const ordered = [...facs].sort((a, b) => a.priority - b.priority)
  const started: Facility[] = []
  try {
    for (const fac of ordered) {
      await fac.start()
      started.push(fac)
    }
  } catch (err) {
    await stopFacilities(started)
    throw err
  }
  return started
}

/** Stops facilities in reverse start order; every one is attempted even if one fails. */
export async function stopFacilities (started: Facility[]): Promise<unknown[]> {
  const failures: unknown[] = []
  for (const fac of [...started].reverse()) {
    try {
      await fac.stop()
    } catch (err) {
      failures.push(err)
    }
  }
  return failures
}
