// End-to-end harness: the reference PLC directory and PDS (@atproto/dev-env)
// on loopback, filled through the real API, with the ground truth written
// out for the comparison; nginx with a CA made here terminates TLS in front
// of the PDS, and the PDS's own rate limiter can be switched on. Usage:
//   node harness.mjs OUT_DIR        (writes OUT_DIR/truth.json, then serves until killed)
// Environment:
//   E2E_TLS=0            no nginx: DID documents point at the PDS's plain http port
//   E2E_RATE_LIMIT=P/S   the PDS allows P requests per S seconds per client address
//   E2E_BIG_RECORDS=N    records in the big account (3000)
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { TestNetworkNoAppView } from '@atproto/dev-env'
import { AtpAgent } from '@atproto/api'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'

const outDir = process.argv[2]
const tls = process.env.E2E_TLS !== '0'
const rateLimit = process.env.E2E_RATE_LIMIT // "points/seconds"
// The address nginx presents as the client's (a documentation-range address):
// the PDS rate-limits what comes through the front, not the harness's own calls.
const frontClientIp = '192.0.2.7'

const canListen = (host) => new Promise((resolve) => {
  const srv = createServer()
  srv.once('error', () => resolve(false))
  srv.listen(0, host, () => srv.close(() => resolve(true)))
})

const freePort = () => new Promise((resolve, reject) => {
  const srv = createServer()
  srv.once('error', reject)
  srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
})

// The PDS's public name. It resolves nowhere: bsky-backfill is told to
// connect to 127.0.0.1 for it (resolve.hosts), and checks the certificate
// against the name. (The PDS refuses an https issuer on a loopback name.)
const publicHost = 'pds.e2e.test'

// A CA made for this run, and a certificate for the public name.
function makeTls(dir) {
  mkdirSync(dir, { recursive: true })
  const ossl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-days', '2', '-subj', '/CN=bsky-backfill e2e test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
    '-subj', `/CN=${publicHost}`)
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=DNS:${publicHost}\nextendedKeyUsage=serverAuth\n`)
  ossl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem',
    '-days', '2', '-extfile', 'ext.cnf')
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') }
}

// nginx from Debian, as a TLS front on both loopback addresses, streaming
// responses through (no buffering) the way a production PDS's proxy does.
async function startNginx(dir, port, upstreamPort, certs) {
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body; proxy_temp_path ${dir}/tmp/proxy; fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi; scgi_temp_path ${dir}/tmp/scgi;
  upstream pds { server 127.0.0.1:${upstreamPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${port} ssl;
    ${(await canListen('::1')) ? `listen [::1]:${port} ssl;` : '# no IPv6 loopback here'}
    ssl_certificate ${certs.cert};
    ssl_certificate_key ${certs.key};
    location / {
      proxy_pass http://pds;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For ${frontClientIp};
      proxy_buffering off;
    }
  }
}
`)
  const nginx = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx'
  const child = spawn(nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { stdio: 'inherit' })
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}; see ${dir}/error.log`)
    if (existsSync(join(dir, 'nginx.pid'))) return child
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nginx did not start; see ${dir}/error.log`)
}

// The PDS hardcodes its per-address limit at 3000 requests per 5 minutes;
// PDS_RATE_LIMITS_ENABLED only switches it on. Scale that one limiter down
// so a test sees real 429s (the PDS's own code, headers and body) in seconds.
if (rateLimit) {
  const [points, seconds] = rateLimit.split('/').map(Number)
  const require = createRequire(createRequire(import.meta.url).resolve('@atproto/pds'))
  require('@atproto/xrpc-server')
  const file = Object.keys(require.cache).find((f) => /xrpc-server[\\/]dist[\\/]rate-limiter\.js$/.test(f))
  const limiterModule = require.cache[file].exports
  const Original = limiterModule.MemoryRateLimiter
  limiterModule.MemoryRateLimiter = class extends Original {
    constructor(options) {
      super(options.keyPrefix === 'rl-global-ip' ? { ...options, points, durationMs: seconds * 1000 } : options)
    }
  }
}

let front = null
const frontPort = tls ? await freePort() : null
const certs = tls ? makeTls(join(outDir, 'tls')) : null
const network = await TestNetworkNoAppView.create({
  pds: {
    // DID documents name the public (TLS) address; the PDS listens on plain http behind it.
    ...(tls ? { hostname: `${publicHost}:${frontPort}`, serviceDid: `did:web:${publicHost}` } : {}),
    ...(rateLimit ? { rateLimitsEnabled: true, rateLimitBypassIps: ['127.0.0.1', '::1', '::ffff:127.0.0.1'] } : {}),
  },
})
const pds = network.pds
if (tls) front = await startNginx(join(outDir, 'nginx'), frontPort, pds.port, certs)
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

// DIDs the PLC directory knows that cannot be backfilled: one whose document
// names no PDS at all ("service": []), one whose PDS is a port nobody listens on.
const plcClient = new plc.Client(network.plc.url)
async function plcDid(services) {
  const key = await Secp256k1Keypair.create()
  const op = await plc.signOperation({
    type: 'plc_operation', verificationMethods: { atproto: key.did() }, rotationKeys: [key.did()],
    alsoKnownAs: [], services, prev: null,
  }, key)
  const did = await plc.didForCreateOp(op)
  await plcClient.sendOperation(did, op)
  return did
}
const broken = {
  [await plcDid({})]: 'no_pds',
  [await plcDid({ atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://localhost:1' } })]: 'dead_port',
}

writeFileSync(join(outDir, 'truth.json'), JSON.stringify({
  plc: network.plc.url, pds: pds.url, accounts,
  public_pds: tls ? `https://${publicHost}:${frontPort}` : pds.url,
  public_host: tls ? publicHost : null,
  ca_file: certs?.ca ?? null,
  nginx_access_log: tls ? join(outDir, 'nginx', 'access.log') : null,
  rate_limit: rateLimit ?? null,
  states: { [gone.session.did]: 'deactivated', [banned.session.did]: 'takendown', [deleted.session.did]: 'deleted' },
  broken,
}))
console.error(`e2e harness ready: plc ${network.plc.url}, pds ${pds.url}${tls ? `, TLS front https://${publicHost}:${frontPort}` : ''}`)
process.on('SIGTERM', async () => { front?.kill('SIGQUIT'); await network.close(); process.exit(0) })
setInterval(() => {}, 1 << 30)
