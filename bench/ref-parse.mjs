// The reference implementation doing what `bsky-backfill inspect` does: read
// the CAR (verifying every block's CID), verify the commit signature and the
// MST, decode every record and write it as JSON to /dev/null.
// Usage: node ref-parse.mjs FILE.car DID did:key:...
import { readFile, open } from 'node:fs/promises'
import { readCarWithRoot, verifyRepo, cborToLex } from '@atproto/repo'
import { lexToJson } from '@atproto/lex-json'

const [file, did, key] = process.argv.slice(2)
const started = process.hrtime.bigint()
const bytes = await readFile(file)
const { root, blocks } = await readCarWithRoot(bytes)
const verified = await verifyRepo(blocks, root, did, key)
const sink = await open('/dev/null', 'w')
let records = 0
let pending = []
for (const create of verified.creates) {
  const value = cborToLex(blocks.get(create.cid))
  pending.push(JSON.stringify({ uri: `at://${did}/${create.collection}/${create.rkey}`, cid: create.cid.toString(), record: lexToJson(value) }))
  records++
  if (pending.length >= 1000) {
    await sink.write(pending.join('\n'))
    pending = []
  }
}
await sink.write(pending.join('\n'))
await sink.close()
const seconds = Number(process.hrtime.bigint() - started) / 1e9
console.log(JSON.stringify({ records, bytes: bytes.length, seconds }))
