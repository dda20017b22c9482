// Generates a valid, signed atproto repo with a realistic record mix, using the
// reference implementation (@atproto/repo), and writes it as a CAR in the
// reference PDS's getRepo block order (newest revision first, then CID
// descending). Usage:
//   node gen-repo.mjs --records 50000 --out repo-50k.car [--seed 1] [--batch 1000]
// Writes FILE.car and FILE.json ({did, key, records, rev, counts}).
import { writeFile, open } from 'node:fs/promises'
import { Secp256k1Keypair } from '@atproto/crypto'
import { Repo, MemoryBlockstore, WriteOpAction, writeCarStream } from '@atproto/repo'
import { TID } from '@atproto/common-web'
import { parseCid } from '@atproto/lex-data'

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
)
const total = Number(args.records ?? 1000)
const out = args.out ?? `repo-${total}.car`
const batch = Number(args.batch ?? 1000)
let seed = Number(args.seed ?? 1)

// mulberry32: a small deterministic PRNG, so the same arguments give the same record mix.
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = (list) => list[Math.floor(random() * list.length)]
const base32 = 'abcdefghijklmnopqrstuvwxyz234567'
const fakeDid = () => 'did:plc:' + Array.from({ length: 24 }, () => pick(base32)).join('')
const words = 'the a of bluesky feed post reply thread labels moderation protocol decentralised social network repo record'.split(' ')
const text = (n) => Array.from({ length: n }, () => pick(words)).join(' ')
const blobCid = parseCid('bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity')
const recordCid = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'

// createdAt spread over 2023-2025, in the forms real clients write.
const createdAt = () => {
  const t = Date.UTC(2023, 0, 1) + Math.floor(random() * 3 * 365 * 86400e3)
  const iso = new Date(t).toISOString()
  const r = random()
  if (r < 0.9) return iso
  if (r < 0.94) return iso.replace('.000Z', 'Z').replace(/\.\d{3}Z$/, 'Z')
  if (r < 0.97) return iso.replace('Z', '+00:00')
  return iso.replace(/\.(\d{3})Z$/, '.$1' + '0000Z')
}
const strongRef = (collection = 'app.bsky.feed.post') => ({ uri: `at://${fakeDid()}/${collection}/${TID.nextStr()}`, cid: recordCid })

const makeRecord = (kind) => {
  switch (kind) {
    case 'like': return ['app.bsky.feed.like', { $type: 'app.bsky.feed.like', subject: strongRef(), createdAt: createdAt() }]
    case 'repost': return ['app.bsky.feed.repost', { $type: 'app.bsky.feed.repost', subject: strongRef(), createdAt: createdAt() }]
    case 'follow': return ['app.bsky.graph.follow', { $type: 'app.bsky.graph.follow', subject: fakeDid(), createdAt: createdAt() }]
    case 'block': return ['app.bsky.graph.block', { $type: 'app.bsky.graph.block', subject: fakeDid(), createdAt: createdAt() }]
    case 'reply': {
      const root = strongRef()
      return ['app.bsky.feed.post', { $type: 'app.bsky.feed.post', text: text(12), createdAt: createdAt(), langs: ['en'], reply: { root, parent: random() < 0.5 ? root : strongRef() } }]
    }
    case 'post': {
      const post = { $type: 'app.bsky.feed.post', text: text(20), createdAt: createdAt(), langs: random() < 0.8 ? ['en'] : ['en', 'de'] }
      const r = random()
      if (r < 0.15) {
        post.embed = { $type: 'app.bsky.embed.images', images: [{ alt: text(4), image: { $type: 'blob', ref: blobCid, mimeType: 'image/jpeg', size: 123456 } }] }
      } else if (r < 0.25) {
        post.embed = { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com/article', title: text(5), description: text(15) } }
      } else if (r < 0.3) {
        post.embed = { $type: 'app.bsky.embed.record', record: strongRef() }
      }
      if (random() < 0.2) {
        post.facets = [{ index: { byteStart: 0, byteEnd: 3 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'atproto' }] }]
        post.tags = ['research']
      }
      return ['app.bsky.feed.post', post]
    }
    case 'listitem': return ['app.bsky.graph.listitem', { $type: 'app.bsky.graph.listitem', subject: fakeDid(), list: `at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.graph.list/${TID.nextStr()}`, createdAt: createdAt() }]
    default: return ['app.bsky.graph.list', { $type: 'app.bsky.graph.list', name: text(2), purpose: 'app.bsky.graph.defs#curatelist', createdAt: createdAt() }]
  }
}
// likes 45%, posts 20%, replies 10%, reposts 10%, follows 12%, blocks 2%, lists and items 1%.
const mix = [['like', 0.45], ['post', 0.65], ['reply', 0.75], ['repost', 0.85], ['follow', 0.97], ['block', 0.99], ['listitem', 0.997], ['list', 1]]
const kindFor = (r) => mix.find(([, upTo]) => r < upTo)[0]

const keypair = await Secp256k1Keypair.create({ exportable: true })
const did = fakeDid()
const storage = new MemoryBlockstore()
const firstRev = new Map() // cid -> rev of the commit that first wrote the block
const noteBlocks = (commit) => {
  for (const [cid] of commit.newBlocks) if (!firstRev.has(cid.toString())) firstRev.set(cid.toString(), commit.rev)
}
const profile = { action: WriteOpAction.Create, collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'Bench account', description: text(10), createdAt: createdAt() } }
const init = await Repo.formatInitCommit(storage, did, keypair, [profile])
noteBlocks(init)
let repo = await Repo.createFromCommit(storage, init)
const counts = { profile: 1 }
let written = 1
const started = Date.now()
while (written < total) {
  const writes = []
  for (let i = 0; i < batch && written < total; i++, written++) {
    const kind = kindFor(random())
    const [collection, record] = makeRecord(kind)
    counts[kind] = (counts[kind] ?? 0) + 1
    writes.push({ action: WriteOpAction.Create, collection, rkey: TID.nextStr(), record })
  }
  const commit = await repo.formatCommit(writes, keypair)
  noteBlocks(commit)
  repo = await repo.applyCommit(commit)
  if (process.stderr.isTTY) process.stderr.write(`\r${written}/${total} records`)
}
if (process.stderr.isTTY) process.stderr.write('\n')

// getRepo serves the current blocks ORDER BY repoRev DESC, cid DESC.
const blocks = []
for (const [cid, bytes] of storage.blocks) blocks.push({ cid, bytes, rev: firstRev.get(cid.toString()) ?? '', key: cid.toString() })
blocks.sort((a, b) => (a.rev === b.rev ? (a.key < b.key ? 1 : a.key > b.key ? -1 : 0) : a.rev < b.rev ? 1 : -1))
const file = await open(out, 'w')
async function* source() {
  for (const b of blocks) yield { cid: b.cid, bytes: b.bytes }
}
for await (const chunk of writeCarStream(repo.cid, source())) await file.write(chunk)
await file.close()
await writeFile(out.replace(/\.car$/, '') + '.json', JSON.stringify({ did, key: keypair.did(), records: written, rev: repo.commit.rev, blocks: blocks.length, counts }, null, 1))
console.error(`wrote ${out}: ${written} records, ${blocks.length} blocks in ${((Date.now() - started) / 1000).toFixed(1)} s`)
