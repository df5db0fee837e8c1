import { it } from 'vitest'
import { MicroBTContainer } from '../../workers/lib/container'
import { createServer } from '../../mock/server'

it('explore', async () => {
  for (const vendor of ['kehua', 'wonderint'] as const) {
    const mock = createServer({ type: vendor, port: 0, tickMs: 0, seed: 1 })
    const { port } = await mock.start()
    const c = new MicroBTContainer({ vendor, address: '127.0.0.1', port, username: 'admin', password: 'admin', timeout: 250 })
    console.log(vendor, 'plan', c.requestsPerSnapshot)
    let t = Date.now()
    let s = await c.getSnap()
    console.log('snap', s.success, Date.now() - t, mock.stats.requests, JSON.stringify(mock.stats.byFunctionCode))
    mock.setFault({ delayMs: 600 })
    t = Date.now()
    s = await c.getSnap()
    console.log('slow', JSON.stringify(s), Date.now() - t, mock.stats.requests)
    mock.setFault({ delayMs: 0, silentUnits: [9] })
    await new Promise(r => setTimeout(r, 700))
    mock.resetStats()
    t = Date.now()
    s = await c.getSnap()
    console.log('silent', s.success, Date.now() - t, JSON.stringify(mock.stats.byUnit), s.success ? s.stats.container_specific.pdu_data.map(p => p.pdu).join(',') : '')
    await c.close()
    await new Promise(r => setTimeout(r, 50))
    console.log('conns', mock.connectionCount)
    await mock.exit()
  }
})
