/**
 * The registered vendor profiles: the one place the vendor list comes from. Every other spelling
 * (the worker's vendor, the mock's container types, the demo, benchmarks, tests) is derived from
 * it. The vendors this package ships are listed here; a vendor worker registers the profile it
 * hands in (WrkContainerRackMbt), so a vendor's worker runs with its two files alone.
 */
import { WrkError } from '../../../core/errors'
import { unitDefOfKind } from '../units'
import { BASE_VALUE_MAPS } from '../value-maps'
import type { ContainerVendor, UnitKind } from '../types'
import { KEHUA } from './kehua'
import type { RegisterProfile } from './profile'
import { WONDERINT } from './wonderint'

export type { RegisterProfile } from './profile'

/** A vendor by name, or its profile. */
export type VendorRef = ContainerVendor | RegisterProfile

const SHIPPED: readonly RegisterProfile[] = [KEHUA, WONDERINT]

const registered = new Map<string, RegisterProfile>()

/** The field a profile must name: the container status is derived from it. */
const STATUS_FIELD = 'circulation_pump_running_status'
const NAME = /^[a-z][a-z0-9]*$/

function invalid (profile: RegisterProfile, why: string): never {
  throw new WrkError('ERR_CONTAINER_VENDOR_INVALID', `vendor profile ${JSON.stringify(profile.name)}: ${why}`)
}

/** Checks a profile against the unit tables: known unit kinds, readable registers, value maps that exist. */
function check (profile: RegisterProfile): void {
  if (typeof profile.name !== 'string' || !NAME.test(profile.name)) invalid(profile, 'the name must be lower-case letters and digits')
  for (const [kind, fields] of Object.entries(profile.overlay) as Array<[UnitKind, RegisterProfile['overlay'][UnitKind]]>) {
    let def
    try {
      def = unitDefOfKind(kind)
    } catch {
      invalid(profile, `unknown unit kind ${kind}`)
    }
    for (const f of fields ?? []) {
      if (!def.readable.some((s) => f.reg >= s.start && f.reg <= s.end)) invalid(profile, `${kind} register ${f.reg} is not readable`)
      if (f.map !== undefined && profile.valueMaps[f.map] === undefined && BASE_VALUE_MAPS[f.map] === undefined) {
        invalid(profile, `${kind} register ${f.reg} names the unknown value map ${f.map}`)
      }
    }
  }
  for (const [name, map] of Object.entries(profile.valueMaps)) {
    if (Object.hasOwn(map.values, 0)) invalid(profile, `value map ${name} lists raw 0 (the value of \`otherwise\`)`)
  }
  if (!(profile.overlay.fcdu ?? []).some((f) => f.field === STATUS_FIELD)) invalid(profile, `the fcdu overlay names no ${STATUS_FIELD}`)
}

/**
 * Registers a profile (again: nothing happens); ERR_CONTAINER_VENDOR_INVALID when it is not
 * valid or another profile has its name.
 */
export function registerProfile (profile: RegisterProfile): RegisterProfile {
  const known = registered.get(profile.name)
  if (known === profile) return profile
  if (known !== undefined) invalid(profile, 'another profile has this name')
  check(profile)
  registered.set(profile.name, Object.freeze(profile))
  return profile
}

for (const profile of SHIPPED) registerProfile(profile)

/** The vendors this package ships (`kehua`, `wonderint`), in order. */
export const CONTAINER_VENDORS: readonly ContainerVendor[] = SHIPPED.map((p) => p.name)

/** Every registered vendor: the shipped ones, then the ones registered since, in order. */
export function containerVendors (): ContainerVendor[] {
  return [...registered.keys()]
}

export function isContainerVendor (value: unknown): value is ContainerVendor {
  return typeof value === 'string' && registered.has(value)
}

/** The profile of a registered vendor (a profile is taken as it is); ERR_CONTAINER_VENDOR_INVALID otherwise. */
export function profileOf (vendor: VendorRef): RegisterProfile {
  if (typeof vendor !== 'string') return registered.get(vendor.name) === vendor ? vendor : registerProfile(vendor)
  const profile = registered.get(vendor)
  if (profile === undefined) {
    const known = containerVendors().join(', ')
    throw new WrkError('ERR_CONTAINER_VENDOR_INVALID', `unknown vendor ${JSON.stringify(vendor)}: expected one of ${known}`)
  }
  return profile
}
