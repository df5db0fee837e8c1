/**
 * kill -9 at random moments (start-up included) while a real worker process writes without
 * pause: 20 iterations on one store, each checked against every acknowledged write by opening
 * the store directly (bench/crash-loop.ts; `npm run bench:crash` runs more). Needs `npm run build`.
 */
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, cleanupAll, createBootstrap, makeRoot } from '../helpers'
import { runCrashLoop } from '../../bench/crash-loop'

afterAll(cleanupAll)

describe('crash loop', () => {
  it('20 × kill -9 during writes and start-up: every acknowledged write survives', async () => {
    const { bootstrap } = await createBootstrap()
    const root = await makeRoot({ bootstrap })
    const res = await runCrashLoop({ root, iterations: 20, seed: 7, childJs: path.join(REPO_ROOT, 'dist', 'bench', 'crash-loop.js') })
    expect(res.iterations).toBe(20)
    expect(res.acked).toBeGreaterThan(100)
  }, 180_000)
})
