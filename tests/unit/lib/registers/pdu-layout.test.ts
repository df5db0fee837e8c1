import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { MockState } from '../../../../mock/state'
import { CONTAINER_VENDORS, RegisterImage, decodeSnapshot, type ContainerVendor } from '../../../../workers/lib/registers'
import { pduGridLayout } from '../../../../workers/lib/registers/pdu-layout'
import { REPO_ROOT, renderGlobalConfigExample } from '../../../../workers/cli/rpc-reference'

/** A snapshot decoded from the mock's whole register image of a vendor. */
function mockSnapshot (vendor: ContainerVendor): ReturnType<typeof decodeSnapshot> {
  const state = new MockState({ type: vendor === 'kehua' ? 'Kehua' : 'Wonderint', seed: 7 })
  const image = new RegisterImage()
  for (const [unit, regs] of state.registers) for (let r = 1; r < regs.length; r++) image.set(unit, r, regs[r] as number)
  return decodeSnapshot(image, vendor)
}

describe('pduGridLayout', () => {
  it('12 PDUs of 20 sockets, labelled as strings from 1', () => {
    const layout = pduGridLayout()
    expect(layout.map((p) => p.pdu)).toEqual(Array.from({ length: 12 }, (_, i) => String(i + 1)))
    for (const pdu of layout) expect(pdu.sockets).toEqual(Array.from({ length: 20 }, (_, i) => ({ socket: String(i + 1), enabled: true })))
  })

  it.each(CONTAINER_VENDORS)('never disagrees with the pdu_data numbering of a %s snapshot', (vendor) => {
    const snap = mockSnapshot(vendor)
    const fromSnap = snap.stats.container_specific.pdu_data.map((p) => ({ pdu: p.pdu, sockets: (p.sockets ?? []).map((s) => s.socket) }))
    expect(fromSnap).toEqual(pduGridLayout().map((p) => ({ pdu: p.pdu, sockets: p.sockets.map((s) => s.socket) })))
  })

  it('config/global.config.json.example holds the layout of both thing types and is current (npm run docs:rpc)', () => {
    const example = readFileSync(path.join(REPO_ROOT, 'config', 'global.config.json.example'), 'utf8')
    expect(example).toBe(renderGlobalConfigExample())
    const parsed = JSON.parse(example) as { pduGridLayout: Record<string, unknown> }
    expect(Object.keys(parsed.pduGridLayout).sort()).toEqual(['container-mbt-kehua', 'container-mbt-wonderint'])
    for (const layout of Object.values(parsed.pduGridLayout)) expect(layout).toEqual(pduGridLayout())
  })
})
