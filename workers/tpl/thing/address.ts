/** A device address: an IPv4/IPv6 literal or a hostname (RFC 1123), nothing else (no scheme, port, spaces or control characters). */
import { isIP } from 'node:net'

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/

export function isHostOrIp (value: string): boolean {
  if (isIP(value) !== 0) return true
  if (value.length === 0 || value.length > 253) return false
  const name = value.endsWith('.') ? value.slice(0, -1) : value
  return name.split('.').every((label) => LABEL.test(label)) && !/^\d+(\.\d+)*$/.test(name)
}
