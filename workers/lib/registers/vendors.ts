import { unitDefOfKind } from './units'
import { BASE_VALUE_MAPS, type ValueMap } from './value-maps'
import { profileOf, type RegisterProfile, type VendorRef } from './profiles'
import type { FieldDef, UnitKind } from './types'

/**
 * A vendor's view of the register tables: the vendor-neutral fields (./units.ts) with the
 * vendor profile's overlay applied (./profiles). An overlay field replaces the base field of
 * the same register or adds one.
 */

const cache = new WeakMap<RegisterProfile, Map<UnitKind, readonly FieldDef[]>>()

/** The fields of a unit kind for a vendor: base table with the vendor overlay applied, sorted by register. */
export function vendorFields (kind: UnitKind, vendor: VendorRef): readonly FieldDef[] {
  const profile = profileOf(vendor)
  let byKind = cache.get(profile)
  if (byKind === undefined) cache.set(profile, byKind = new Map())
  const hit = byKind.get(kind)
  if (hit !== undefined) return hit
  const byReg = new Map<number, FieldDef>()
  for (const f of unitDefOfKind(kind).fields) byReg.set(f.reg, f)
  for (const f of profile.overlay[kind] ?? []) byReg.set(f.reg, f)
  const fields = [...byReg.values()].sort((a, b) => a.reg - b.reg)
  byKind.set(kind, fields)
  return fields
}

/** The value map a field of the vendor names: the profile's own, else a vendor-neutral one. */
export function valueMapOf (vendor: VendorRef, name: string): ValueMap {
  const map = profileOf(vendor).valueMaps[name] ?? BASE_VALUE_MAPS[name]
  if (map === undefined) throw new Error(`no value map ${name}`)
  return map
}
