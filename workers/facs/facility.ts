/**
 * A facility is one piece of infrastructure a worker owns (store, net, logger…): a Resource
 * with a name that says which facilities it needs. Facilities open after what they depend on
 * and close in the reverse order of their opening.
 */
import { Resource } from '../core/resource'

export abstract class Facility extends Resource {
  abstract readonly name: string
  /** Names of the facilities that must be ready before this one. */
  readonly dependsOn: readonly string[] = []
}

/** Facilities in an order where each comes after its dependencies (stable otherwise). */
export function openOrder<F extends Facility> (facs: readonly F[]): F[] {
  const byName = new Map(facs.map((f) => [f.name, f]))
  const out: F[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (fac: F): void => {
    const s = state.get(fac.name)
    if (s === 'done') return
    if (s === 'visiting') throw new Error(`facility dependency cycle through ${fac.name}`)
    state.set(fac.name, 'visiting')
    for (const dep of fac.dependsOn) {
      const d = byName.get(dep)
      if (!d) throw new Error(`facility ${fac.name} depends on ${dep}, which this worker does not have`)
      visit(d)
    }
    state.set(fac.name, 'done')
    out.push(fac)
  }
  for (const fac of facs) visit(fac)
  return out
}

/** Opens facilities in dependency order; on failure closes those already open, then rethrows. */
export async function startFacilities<F extends Facility> (facs: readonly F[]): Promise<F[]> {
  const started: F[] = []
  try {
    for (const fac of openOrder(facs)) {
      await fac.ready()
      started.push(fac)
    }
  } catch (err) {
    await stopFacilities(started)
    throw err
  }
  return started
}

/** Closes facilities in reverse opening order; every one is attempted even if one fails. */
export async function stopFacilities (started: readonly Facility[]): Promise<unknown[]> {
  const failures: unknown[] = []
  for (const fac of [...started].reverse()) {
    try {
      await fac.close()
    } catch (err) {
      failures.push(err)
    }
  }
  return failures
}
