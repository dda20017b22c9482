// End-to-end harness: the reference PLC directory and PDS (@atproto/dev-env)
// on loopback, filled through the real API, with the ground truth written
// out for the comparison. Usage:
//   node harness.mjs OUT_DIR        (writes OUT_DIR/truth.json, then serves until killed)
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestNetworkNoAppView } from '@atproto/dev-env'
import { AtpAgent } from '@atproto/api'

const outDir = process.argv[2]
const network = await TestNetworkNoAppView.create({})
const pds = network.pds
const admin = { headers: pds.adminAuthHeaders(), encoding: 'application/json' }

let seq = 0
const createdForms = [
  (d) => d.toISOString(),                                   // 2024-10-01T12:00:00.000Z
  (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z'),        // no fraction
  (d) => d.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z'), // 7-digit fraction
  (d) => d.toISOString().replace('Z', '+00:00'),           // +00:00
  (d) => d.toISOString().replace('Z', ''),                 // no zone
]
// Spread across several years, in every form.
const createdAt = () => {
  const day = new Date(Date.UTC(2022, 0, 1) + (seq * 7919 % 1400) * 86400e3 + (seq % 86400) * 1000)
  return createdForms[seq++ % createdForms.length](day)
}

async function account(name) {
  const agent = new AtpAgent({ service: pds.url })
  await agent.createAccount({ email: `${name}@example.test`, handle: `e2e-${name}.test`, password: 'hunter2hunter2' })
  return agent
}
const create = (agent, collection, record) =>
  agent.com.atproto.repo.createRecord({ repo: agent.session.did, collection, record, validate: false })

const alice = await account('alice')
const bob = await account('bob')
const carol = await account('carol')
const empty = await account('empty')
const big = await account('big')
const gone = await account('gone')
const banned = await account('banned')
const deleted = await account('deleted')

// Alice: every kind of record.
await create(alice, 'app.bsky.actor.profile', { $type: 'app.bsky.actor.profile', displayName: 'Alice', description: 'test account' })
const image = (await alice.uploadBlob(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]), { encoding: 'image/png' })).data.blob
const first = await create(alice, 'app.bsky.feed.post', {
  $type: 'app.bsky.feed.post', text: 'hello #atproto https://example.com', createdAt: createdAt(), langs: ['en', 'de'], tags: ['research'],
  facets: [{ index: { byteStart: 6, byteEnd: 14 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'atproto' }] },
           { index: { byteStart: 15, byteEnd: 34 }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com' }] }],
  embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com', title: 'Example', description: 'An example' } },
})
const withImage = await create(alice, 'app.bsky.feed.post', {
  $type: 'app.bsky.feed.post', text: 'a picture', createdAt: createdAt(),
  embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'pixels', image }] },
})
const ref = (r) => ({ uri: r.data.uri, cid: r.data.cid })
await create(alice, 'app.bsky.feed.post', { $type: 'app.bsky.feed.post', text: 'quoting', createdAt: createdAt(),
  embed: { $type: 'app.bsky.embed.record', record: ref(withImage) } })
await create(alice, 'app.bsky.feed.threadgate', { $type: 'app.bsky.feed.threadgate', post: first.data.uri, allow: [], createdAt: createdAt() })
const list = await create(alice, 'app.bsky.graph.list', { $type: 'app.bsky.graph.list', name: 'friends', purpose: 'app.bsky.graph.defs#curatelist', createdAt: createdAt() })
for (const who of [bob, carol])
  await create(alice, 'app.bsky.graph.listitem', { $type: 'app.bsky.graph.listitem', subject: who.session.did, list: list.data.uri, createdAt: createdAt() })
for (const who of [bob, carol, big]) await create(alice, 'app.bsky.graph.follow', { $type: 'app.bsky.graph.follow', subject: who.session.did, createdAt: createdAt() })
await create(alice, 'app.bsky.graph.block', { $type: 'app.bsky.graph.block', subject: banned.session.did, createdAt: createdAt() })

// Bob and Carol reply, like and repost.
const reply = await create(bob, 'app.bsky.feed.post', { $type: 'app.bsky.feed.post', text: 'a reply', createdAt: createdAt(),
  reply: { root: ref(first), parent: ref(first) } })
await create(carol, 'app.bsky.feed.post', { $type: 'app.bsky.feed.post', text: 'a deeper reply', createdAt: createdAt(),
  reply: { root: ref(first), parent: ref(reply) } })
for (const who of [bob, carol]) {
  await create(who, 'app.bsky.feed.like', { $type: 'app.bsky.feed.like', subject: ref(first), createdAt: createdAt() })
  await create(who, 'app.bsky.feed.repost', { $type: 'app.bsky.feed.repost', subject: ref(first), createdAt: createdAt() })
  await create(who, 'app.bsky.graph.follow', { $type: 'app.bsky.graph.follow', subject: alice.session.did, createdAt: createdAt() })
}

// Big: thousands of records through applyWrites, 200 at a time.
const kinds = ['app.bsky.feed.like', 'app.bsky.feed.post', 'app.bsky.feed.repost', 'app.bsky.graph.follow']
let writes = []
for (let i = 0; i < Number(process.env.E2E_BIG_RECORDS ?? 3000); i++) {
  const collection = kinds[i % kinds.length]
  const value = collection === 'app.bsky.feed.post' ? { $type: collection, text: `post ${i}`, createdAt: createdAt() }
    : collection === 'app.bsky.graph.follow' ? { $type: collection, subject: alice.session.did, createdAt: createdAt() }
    : { $type: collection, subject: ref(first), createdAt: createdAt() }
  writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection, value })
  if (writes.length === 200) {
    await big.com.atproto.repo.applyWrites({ repo: big.session.did, writes, validate: false })
    writes = []
  }
}
if (writes.length) await big.com.atproto.repo.applyWrites({ repo: big.session.did, writes, validate: false })

// Records in accounts that end up unavailable.
for (const who of [gone, banned, deleted]) await create(who, 'app.bsky.feed.post', { $type: 'app.bsky.feed.post', text: 'soon gone', createdAt: createdAt() })

// Ground truth, before the states change.
async function truth(agent) {
  const did = agent.session.did
  const described = await agent.com.atproto.repo.describeRepo({ repo: did })
  const records = []
  for (const collection of described.data.collections) {
    let cursor
    do {
      const page = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor })
      for (const r of page.data.records) records.push({ uri: r.uri, cid: r.cid, value: r.value })
      cursor = page.data.cursor
    } while (cursor)
  }
  const latest = await agent.com.atproto.sync.getLatestCommit({ did })
  return { did, rev: latest.data.rev, records }
}
const accounts = {}
for (const [name, agent] of Object.entries({ alice, bob, carol, empty, big })) accounts[name] = await truth(agent)

await gone.com.atproto.server.deactivateAccount({})
await banned.com.atproto.admin.updateSubjectStatus(
  { subject: { $type: 'com.atproto.admin.defs#repoRef', did: banned.session.did }, takedown: { applied: true, ref: 'e2e' } }, admin)
await deleted.com.atproto.admin.deleteAccount({ did: deleted.session.did }, admin)

writeFileSync(join(outDir, 'truth.json'), JSON.stringify({
  plc: network.plc.url, pds: pds.url, accounts,
  states: { [gone.session.did]: 'deactivated', [banned.session.did]: 'takendown', [deleted.session.did]: 'deleted' },
}))
console.error(`e2e harness ready: plc ${network.plc.url}, pds ${pds.url}`)
process.on('SIGTERM', async () => { await network.close(); process.exit(0) })
setInterval(() => {}, 1 << 30)
