/**
 * The vendor profiles and their registry: a profile is checked against the unit tables when it
 * is registered, and value maps decode and encode the same facts.
 */
import { describe, expect, it } from 'vitest'
import {
  BASE_VALUE_MAPS, containerVendors, encodeMapped, isContainerVendor, mapDecoder, profileOf, registerProfile,
  type RegisterProfile
} from '../../../../workers/lib/registers'
import { KEHUA } from '../../../../workers/lib/registers/profiles/kehua'
import { WONDERINT } from '../../../../workers/lib/registers/profiles/wonderint'

const invalid = expect.objectContaining({ code: 'ERR_CONTAINER_VENDOR_INVALID' })
const pump = { values: { 3: 'running' }, otherwise: 'stopped' }

/** A valid profile named `name` (Wonderint's registers), changed by `change`. */
function profile (name: string, change: Partial<RegisterProfile> = {}): RegisterProfile {
  return { ...WONDERINT, name, ...change }
}

describe('vendor profiles', () => {
  it('the shipped vendors are registered, by name, as the profile files define them', () => {
    expect(profileOf('kehua')).toBe(KEHUA)
    expect(profileOf('wonderint')).toBe(WONDERINT)
    expect(profileOf(KEHUA)).toBe(KEHUA)
    expect(isContainerVendor('kehua')).toBe(true)
    expect(isContainerVendor('Kehua')).toBe(false)
    expect(isContainerVendor(undefined)).toBe(false)
    expect(() => profileOf('nope')).toThrow(invalid)
  })

  it('a profile is refused when it does not fit the unit tables', () => {
    expect(() => registerProfile(profile('Upper'))).toThrow(invalid)
    expect(() => registerProfile(profile('with-dash'))).toThrow(invalid)
    // a register no controller answers (unit 1 reads 201–212, not 213)
    expect(() => registerProfile(profile('unread', { overlay: { ...WONDERINT.overlay, gtemp: [{ reg: 5, type: 's', field: 'temperature' }] } }))).toThrow(invalid)
    expect(() => registerProfile(profile('nomap', { valueMaps: {} }))).toThrow(invalid)
    expect(() => registerProfile(profile('zero', { valueMaps: { pumpStatus: { values: { 0: 'running' }, otherwise: 'stopped' } } }))).toThrow(invalid)
    // without the pump status the container status cannot be derived
    expect(() => registerProfile(profile('nostatus', { overlay: { gtemp: WONDERINT.overlay.gtemp } }))).toThrow(invalid)
    expect(() => registerProfile(profile('kehua', { valueMaps: { pumpStatus: pump } }))).toThrow(invalid)
    expect(containerVendors()).not.toContain('unread')
  })

  it('a valid profile registers once, under its name', () => {
    const p = profile('fourth', { valueMaps: { pumpStatus: pump } })
    expect(registerProfile(p)).toBe(p)
    expect(registerProfile(p)).toBe(p)
    expect(profileOf('fourth')).toBe(p)
    expect(containerVendors().filter((v) => v === 'fourth')).toHaveLength(1)
  })
})

describe('value maps', () => {
  it('decode the listed raw values, anything else to `otherwise`', () => {
    const kehua = mapDecoder(KEHUA.valueMaps.pumpStatus)
    expect([100, 200, 0, 1, 101, 65535].map(kehua)).toEqual(['running', 'error', 'stopped', 'stopped', 'stopped', 'stopped'])
    const wonderint = mapDecoder(WONDERINT.valueMaps.pumpStatus)
    expect([1, 0, 100, 2].map(wonderint)).toEqual(['running', 'stopped', 'stopped', 'stopped'])
    expect([1, 0, 2].map(mapDecoder(BASE_VALUE_MAPS.flag))).toEqual([true, false, false])
    expect([1, 0, 2].map(mapDecoder(BASE_VALUE_MAPS.autoManual))).toEqual(['auto', 'manual', 'manual'])
  })

  it('encode a value to its raw value, `otherwise` and unlisted values to 0', () => {
    expect(encodeMapped(KEHUA.valueMaps.pumpStatus, 'running')).toBe(100)
    expect(encodeMapped(KEHUA.valueMaps.pumpStatus, 'error')).toBe(200)
    expect(encodeMapped(KEHUA.valueMaps.pumpStatus, 'stopped')).toBe(0)
    expect(encodeMapped(WONDERINT.valueMaps.pumpStatus, 'error')).toBe(0)
    expect(encodeMapped(BASE_VALUE_MAPS.flag, true)).toBe(1)
    expect(encodeMapped(BASE_VALUE_MAPS.flag, false)).toBe(0)
  })
})
