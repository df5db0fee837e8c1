/** Loopback ports for tests. */
import net from 'node:net'

/** A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it now). */
export async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}
