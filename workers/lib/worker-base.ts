import { TetherWrkBase } from '../tpl/tether-wrk-base'
import type { WorkerContext } from '../tpl/wrk-base'

export type Vendor = 'kehua' | 'wonderint'

/** MicroBT layer: everything the Kehua and Wonderint workers share. */
export class WrkContainerRackMbt extends TetherWrkBase {
  constructor (ctx: WorkerContext, readonly vendor: Vendor) {
    super(ctx)
  }
}
