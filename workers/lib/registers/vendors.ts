import { unitDefOfKind } from './units'
import { CONTAINER_VENDORS, type ContainerVendor, type FieldDef, type UnitKind, type VendorOverlay } from './types'

/**
 * Where Kehua and Wonderint controllers differ (registers.md, "Vendor differences"). An overlay
 * field replaces the base field of the same register or adds one; a register absent from a
 * vendor's overlay and from the base table is simply not decoded for that vendor.
 */
export const VENDOR_OVERLAYS: Readonly<Record<ContainerVendor, VendorOverlay>> = {
  kehua: {
    fcdu: [
      { reg: 208, type: 's', map: 'kehuaPumpStatus', field: 'circulation_pump_running_status' },
      { reg: 212, type: 's', scale: 100, field: 'cooling_system_status' },
      { reg: 606, type: 's', field: 'cycle_pump_control' }
    ],
    gtemp: [
      { reg: 3, type: 's', scale: 100, field: 'temperature' },
      { reg: 4, type: 's', scale: 100, field: 'humidity' }
    ]
  },
  wonderint: {
    fcdu: [
      { reg: 208, type: 's', field: 'cycle_pump_control' },
      { reg: 211, type: 's', scale: 100, field: 'unit_outlet_temp_t3' },
      { reg: 606, type: 's', map: 'wonderintPumpStatus', field: 'circulation_pump_running_status' }
    ],
    gtemp: [
      { reg: 3, type: 's', scale: 10, field: 'temperature' },
      { reg: 4, type: 's', scale: 10, field: 'humidity' }
    ]
  }
}

export function isContainerVendor (value: unknown): value is ContainerVendor {
  return typeof value === 'string' && (CONTAINER_VENDORS as readonly string[]).includes(value)
}

const cache = new Map<string, readonly FieldDef[]>()

/** The fields of a unit kind for a vendor: base table with the vendor overlay applied, sorted by register. */
export function vendorFields (kind: UnitKind, vendor: ContainerVendor): readonly FieldDef[] {
  const key = `${vendor}:${kind}`
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const byReg = new Map<number, FieldDef>()
  for (const f of unitDefOfKind(kind).fields) byReg.set(f.reg, f)
  for (const f of VENDOR_OVERLAYS[vendor][kind] ?? []) byReg.set(f.reg, f)
  const fields = [...byReg.values()].sort((a, b) => a.reg - b.reg)
  cache.set(key, fields)
  return fields
}
