import type { VendorOverlay } from '../types'
import type { ValueMap } from '../value-maps'

/**
 * What one controller vendor's register map adds to the vendor-neutral tables (../units.ts):
 * the fields whose meaning or scale is the vendor's own, and the value maps they name. One file
 * per vendor implements it (./kehua.ts, ./wonderint.ts); its vendor worker hands it in
 * (workers/<name>.rack.container.wrk.ts), and ./index.ts registers it.
 */
export interface RegisterProfile {
  /**
   * Lower-case name: thing type `container-mbt-<name>`, worker type `wrk-container-rack-<name>`,
   * the `vendor` of a container, the mock's `--type` (any case).
   */
  readonly name: string
  /**
   * Per unit kind, fields that replace the base field of the same register or are added; a
   * register absent from the overlay and from the base table is not decoded for the vendor.
   * The unit 1 field `circulation_pump_running_status` is the input of the container status.
   */
  readonly overlay: VendorOverlay
  /** The value maps the overlay names besides the vendor-neutral ones (../value-maps.ts). */
  readonly valueMaps: Readonly<Record<string, ValueMap>>
}
