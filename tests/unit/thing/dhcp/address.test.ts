/**
 * Device addresses (workers/tpl/thing/dhcp/address.ts): which literals a container can have, and one
 * spelling per address (to tell whether two things use the same one).
 */
import { describe, expect, it } from 'vitest'
import { addressKey, addressProblem, isDeviceAddress, isHostOrIp } from '../../../../workers/tpl/thing/dhcp/address'

const USABLE = [
  '127.0.0.1', '10.0.0.21', '192.168.1.1', '1.0.0.0', '223.255.255.255', '240.0.0.1', '255.255.255.254', '169.253.0.1', '169.255.0.1',
  '::1', '2001:db8::1', 'fe80::1%eth0', 'FE80::1%2', 'fec0::1', 'fe7f::1', '::ffff:10.0.0.1', 'container-1', 'bay-1.site.example', 'a.b.c.',
  'x', 'localhost', '0a.example', 'x0'
]

const UNUSABLE: Array<[string, RegExp]> = [
  ['0.0.0.0', /unspecified/], ['0.1.2.3', /unspecified/], ['255.255.255.255', /broadcast/],
  ['224.0.0.1', /multicast/], ['239.255.255.250', /multicast/], ['169.254.0.1', /link-local/], ['169.254.255.255', /link-local/],
  ['::', /unspecified/], ['0:0:0:0:0:0:0:0', /unspecified/], ['ff02::1', /multicast/], ['FF05::1:3', /multicast/], ['ff00::', /multicast/],
  ['fe80::1', /link-local address without a scope/], ['febf:ffff::1', /link-local/], ['FE80::abcd', /link-local/],
  ['::ffff:0.0.0.0', /unspecified/], ['::ffff:255.255.255.255', /broadcast/], ['::ffff:224.0.0.1', /multicast/], ['::ffff:169.254.1.1', /link-local/],
  ['0x0', /number/], ['0xe0.0.0.1', /number/], ['0xffffffff', /number/], ['0X7F.1', /number/]
]

describe('isDeviceAddress', () => {
  it('accepts the addresses a container can have', () => {
    for (const ok of USABLE) {
      expect(addressProblem(ok), ok).toBeNull()
      expect(isDeviceAddress(ok), ok).toBe(true)
    }
  })

  it('refuses the unspecified, broadcast, multicast and unscoped link-local addresses, in every spelling, and numbers as names', () => {
    for (const [bad, why] of UNUSABLE) {
      expect(addressProblem(bad), bad).toMatch(why)
      expect(isDeviceAddress(bad), bad).toBe(false)
    }
  })

  it('keeps the syntax of isHostOrIp (which stays a pure syntax check)', () => {
    for (const bad of ['', 'http://10.0.0.1', '10.0.0.1:502', ' 10.0.0.1', '10.0.0.1\n', 'a..b', '999.1.1.1', '1.2.3', 'fe80::1%']) {
      expect(isDeviceAddress(bad), JSON.stringify(bad)).toBe(false)
    }
    expect(isHostOrIp('0.0.0.0')).toBe(true)
  })
})

describe('addressKey', () => {
  it('one spelling per address', () => {
    expect(addressKey('::FFFF:10.0.0.1')).toBe(addressKey('10.0.0.1'))
    expect(addressKey('::ffff:a00:1')).toBe('10.0.0.1')
    expect(addressKey('2001:DB8:0:0:0:0:0:1')).toBe(addressKey('2001:db8::1'))
    expect(addressKey('::1')).toBe(addressKey('0:0:0:0:0:0:0:1'))
    expect(addressKey('Bay-1.Example.')).toBe(addressKey('bay-1.example'))
  })

  it('different addresses stay different (zones included)', () => {
    expect(addressKey('10.0.0.1')).not.toBe(addressKey('10.0.0.10'))
    expect(addressKey('fe80::1%eth0')).not.toBe(addressKey('fe80::1%eth1'))
    expect(addressKey('2001:db8::1')).not.toBe(addressKey('2001:db8::1:0'))
  })
})
