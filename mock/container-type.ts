/** The container types the mock serves (`Kehua`, `Wonderint`), as its CLI and control API spell them. */
import { WrkError } from '../workers/core/errors'
import { CONTAINER_VENDORS, containerVendors } from '../workers/lib/registers/profiles'

type ContainerVendor = typeof CONTAINER_VENDORS[number]

/** A vendor's name as the mock's CLI and control API write it (`Kehua`). */
export type ContainerType = Capitalize<ContainerVendor>

const typeOf = (v: ContainerVendor): ContainerType => `${v.charAt(0).toUpperCase()}${v.slice(1)}` as ContainerType

export const CONTAINER_TYPES: readonly ContainerType[] = CONTAINER_VENDORS.map(typeOf)

/** The vendor of a container type (`Kehua` → `kehua`). */
export function vendorOf (type: ContainerType): ContainerVendor {
  return type.toLowerCase() as ContainerVendor
}

/** Case-insensitive container type ('kehua', 'WONDERINT' …, any registered vendor); throws ERR_MOCK_INVALID_TYPE. */
export function parseContainerType (input: unknown): ContainerType {
  const types = containerVendors().map(typeOf)
  const found = typeof input === 'string'
    ? types.find((t) => t.toLowerCase() === input.trim().toLowerCase())
    : undefined
  if (found === undefined) {
    throw new WrkError('ERR_MOCK_INVALID_TYPE', `invalid container type ${JSON.stringify(input)}: expected one of ${types.join(', ')}`)
  }
  return found
}
