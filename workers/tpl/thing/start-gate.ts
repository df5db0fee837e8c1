/**
 * RPC is served as soon as the registry is loaded; restoring every thing's `last` comes after.
 * Until the start is complete, the methods that read `last`, the registry or the devices wait
 * for this gate; the others answer at once.
 */
/** Methods answered while the things' `last` is restored at start (they read neither `last` nor the devices). */
export const SERVED_DURING_RESTORE = new Set([
  'getRack', 'getReplicaConf', 'getWrkConf', 'getWrkSettings', 'getWrkExtData', 'getThingConf', 'tailLog', 'getHistoricalLogs'
])

/** A promise settled once, by the start. */
export class StartGate {
  readonly done: Promise<void>
  open: () => void = () => {}
  fail: (err: unknown) => void = () => {}

  constructor () {
    this.done = new Promise<void>((resolve, reject) => {
      this.open = resolve
      this.fail = reject
    })
    // nobody may be waiting
    this.done.catch(() => {})
  }
}
