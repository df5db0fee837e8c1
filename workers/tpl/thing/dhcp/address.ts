/**
 * Device addresses.
 *
 * `isHostOrIp`: the syntax — an IPv4/IPv6 literal or a hostname (RFC 1123), nothing else (no
 * scheme, port, spaces or control characters).
 *
 * `isDeviceAddress`: the syntax, and an address a container can have: never the unspecified
 * address (`0.0.0.0/8`, `::`), the broadcast address (`255.255.255.255`), a multicast group
 * (`224.0.0.0/4`, `ff00::/8`), a link-local address without a scope (`169.254.0.0/16`, and
 * `fe80::/10` without `%<zone>`), the same as IPv4-mapped IPv6 (`::ffff:0.0.0.0`), nor a name
 * made of numbers only (`0x0`, `0xe0.1`: resolvers read such names as IPv4 addresses).
 *
 * `addressKey`: one spelling per address (`::FFFF:10.0.0.1` and `10.0.0.1` are the same device),
 * to tell whether two things use the same one.
 */
import { isIP } from 'node:net'

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/
/** A label inet_aton reads as a number: decimal, octal or hex. */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/i

export function isHostOrIp (value: string): boolean {
  if (isIP(value) !== 0) return true
  if (value.length === 0 || value.length > 253) return false
  const name = value.endsWith('.') ? value.slice(0, -1) : value
  return name.split('.').every((label) => LABEL.test(label)) && !/^\d+(\.\d+)*$/.test(name)
}

/** The four bytes of an IPv4 literal (isIP 4). */
function ipv4Bytes (value: string): number[] {
  return value.split('.').map(Number)
}

/** The eight 16-bit groups and the zone of an IPv6 literal (isIP 6). */
function ipv6Parts (value: string): { groups: number[], zone: string | null } {
  const pct = value.indexOf('%')
  const zone = pct >= 0 ? value.slice(pct + 1) : null
  let s = pct >= 0 ? value.slice(0, pct) : value
  // an IPv4 tail (`::ffff:10.0.0.1`) as two groups
  const last = s.lastIndexOf(':')
  const tail = s.slice(last + 1)
  if (tail.includes('.')) {
    const b = ipv4Bytes(tail)
    s = `${s.slice(0, last + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`
  }
  const hex = (part: string): number[] => part === '' ? [] : part.split(':').map((g) => parseInt(g, 16))
  const halves = s.split('::')
  if (halves.length === 1) return { groups: hex(s), zone }
  const left = hex(halves[0])
  const right = hex(halves[1])
  return { groups: [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right], zone }
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) stands for, else null. */
function mappedIpv4 (groups: readonly number[]): string | null {
  if (groups.slice(0, 5).some((g) => g !== 0) || groups[5] !== 0xffff) return null
  return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.')
}

function ipv4Problem (value: string): string | null {
  const [a, b, c, d] = ipv4Bytes(value)
  if (a === 0) return 'the unspecified address (0.0.0.0/8)'
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'the broadcast address'
  if (a >= 224 && a <= 239) return 'a multicast address (224.0.0.0/4)'
  if (a === 169 && b === 254) return 'a link-local address (169.254.0.0/16)'
  return null
}

/**
 * Why `value` cannot be a device's address (a short phrase for messages), or null when it can.
 * Only the kind of address is judged here; the syntax is isHostOrIp's.
 */
export function addressProblem (value: string): string | null {
  const kind = isIP(value)
  if (kind === 4) return ipv4Problem(value)
  if (kind === 6) {
    const { groups, zone } = ipv6Parts(value)
    const v4 = mappedIpv4(groups)
    if (v4 !== null) return ipv4Problem(v4)
    if (groups.every((g) => g === 0)) return 'the unspecified address (::)'
    if ((groups[0] & 0xff00) === 0xff00) return 'a multicast address (ff00::/8)'
    if ((groups[0] & 0xffc0) === 0xfe80 && (zone === null || zone === '')) {
      return 'a link-local address without a scope (fe80::/10 needs %<zone>)'
    }
    return null
  }
  const name = value.endsWith('.') ? value.slice(0, -1) : value
  if (name !== '' && name.split('.').every((label) => NUMERIC_LABEL.test(label))) {
    return 'a number, not a dotted-decimal address or a hostname'
  }
  return null
}

/** An address a container can have: isHostOrIp, and no addressProblem. */
export function isDeviceAddress (value: string): boolean {
  return isHostOrIp(value) && addressProblem(value) === null
}

/**
 * One spelling per address: IPv6 in full lower-case hex groups (zone kept), IPv4-mapped IPv6 as
 * its IPv4 address, a hostname in lower case without the final dot.
 */
export function addressKey (value: string): string {
  const kind = isIP(value)
  if (kind === 4) return value
  if (kind === 6) {
    const { groups, zone } = ipv6Parts(value)
    const v4 = mappedIpv4(groups)
    if (v4 !== null) return v4
    return groups.map((g) => g.toString(16)).join(':') + (zone !== null ? `%${zone}` : '')
  }
  return (value.endsWith('.') ? value.slice(0, -1) : value).toLowerCase()
}
