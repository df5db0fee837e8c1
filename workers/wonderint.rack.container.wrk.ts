import { WrkContainerRackMbt } from './lib/rack.mbt.wrk'
import { WONDERINT } from './lib/registers/profiles/wonderint'
import type { WorkerContext } from './tpl/wrk-base'

/** Worker for MicroBT containers with a Wonderint cooling/power controller. */
export default class WrkContainerRackWonderint extends WrkContainerRackMbt {
  constructor (ctx: WorkerContext) {
    super(ctx, WONDERINT)
  }
}
