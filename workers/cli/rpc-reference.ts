/**
 * `npm run docs:rpc`: writes docs/openrpc.json and the generated tables of docs/rpc.md from the
 * method declarations of the MicroBT worker and the error catalogue, and
 * config/global.config.json.example with the PDU grid of each vendor's thing type. A test fails
 * when they are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { errorTable, methodTable, openRpcDocument, replaceGenerated } from '../rpc/reference'
import type { RpcMethod } from '../rpc/method'
import { ERROR_CATALOGUE } from '../lib/error-catalogue'
import WrkContainerRackKehua from '../kehua.rack.container.wrk'
import WrkContainerRackWonderint from '../wonderint.rack.container.wrk'
import { pduGridLayout } from '../lib/registers/pdu-layout'

/** The declarations of a MicroBT worker (the vendors declare the same methods). */
export function microbtDeclarations (): RpcMethod[] {
  return new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'docs', root: '.' }).rpcDeclarations()
}

export interface RpcReference { openrpc: string, rpcMd: string }

/** The generated files' contents, given the current docs/rpc.md. */
export function renderReference (rpcMd: string, version: string): RpcReference {
  const decls = microbtDeclarations()
  const doc = openRpcDocument({
    title: 'miningos-wrk-container-microbt',
    version,
    description: 'JSON over @hyperswarm/rpc; a failure replies the string "[HRPC_ERR]=<ERR_CODE>" (docs/rpc.md).'
  }, decls, ERROR_CATALOGUE)
  const md = replaceGenerated(replaceGenerated(rpcMd, 'methods', methodTable(decls)), 'errors', errorTable(ERROR_CATALOGUE))
  return { openrpc: JSON.stringify(doc, null, 2) + '\n', rpcMd: md }
}

/** config/global.config.json.example: `pduGridLayout` of every MicroBT thing type. */
export function renderGlobalConfigExample (): string {
  const ctx = { env: 'development' as const, rack: 'docs', root: '.' }
  const types = [
    new WrkContainerRackKehua({ ...ctx, wtype: 'wrk-container-rack-kehua' }),
    new WrkContainerRackWonderint({ ...ctx, wtype: 'wrk-container-rack-wonderint' })
  ].map((w) => w.getThingType())
  return JSON.stringify({ pduGridLayout: Object.fromEntries(types.map((t) => [t, pduGridLayout()])) }, null, 2) + '\n'
}

export const REPO_ROOT = path.resolve(__dirname, path.basename(path.resolve(__dirname, '..', '..')) === 'dist' ? '../../..' : '../..')

if (require.main === module) {
  const md = path.join(REPO_ROOT, 'docs', 'rpc.md')
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
  const out = renderReference(readFileSync(md, 'utf8'), pkg.version)
  writeFileSync(path.join(REPO_ROOT, 'docs', 'openrpc.json'), out.openrpc)
  writeFileSync(md, out.rpcMd)
  writeFileSync(path.join(REPO_ROOT, 'config', 'global.config.json.example'), renderGlobalConfigExample())
  process.stdout.write('wrote docs/openrpc.json, docs/rpc.md and config/global.config.json.example\n')
}
