// The status page, compiled in: it must work offline, behind a firewall, with
// nothing but the metrics listener (no CDN, no framework).
#include "ops/metrics_server.hpp"

namespace bsky::ops {

const char* const status_page_html = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bsky-backfill status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.05em;margin:1.2em 0 .4em}
.bar{background:#ddd;border-radius:4px;height:22px;overflow:hidden;max-width:900px}
.bar div{background:#2b7de9;height:100%;transition:width .5s}
table{border-collapse:collapse;margin-top:.3em}td,th{padding:2px 10px;border-bottom:1px solid #e4e4e4;text-align:right}
td:first-child,th:first-child{text-align:left}.muted{color:#777}.bad{color:#b00}
#chart{background:#fff;border:1px solid #ddd}
</style></head><body>
<h1>bsky-backfill <span id="version" class="muted"></span></h1>
<div id="summary">loading…</div>
<div class="bar"><div id="bar" style="width:0"></div></div>
<div id="eta" class="muted"></div>
<h2>Records exported, by type</h2><table id="records"></table>
<h2>Throughput, last hour (DIDs ended per minute)</h2>
<svg id="chart" width="900" height="160" viewBox="0 0 900 160"></svg>
<h2>Spool files</h2>
<table id="files"><thead><tr><th>file</th><th>state</th><th>DIDs</th><th>done</th><th>failed</th><th>pending</th><th>other</th><th>records</th><th>started</th><th>finished</th></tr></thead><tbody></tbody></table>
<h2>PDS hosts</h2>
<table id="hosts"><thead><tr><th>host</th><th>done</th><th>failed</th><th>ended</th><th>records</th><th>in flight</th><th>429s</th><th>paused until</th></tr></thead><tbody></tbody></table>
<h2>Latest failures</h2>
<table id="failures"><thead><tr><th>DID</th><th>attempts</th><th>when</th><th>reason</th></tr></thead><tbody></tbody></table>
<p class="muted">Refreshes every 2 s from <a href="status.json">status.json</a> · <a href="metrics">metrics</a> · <a href="healthz">healthz</a> · updated <span id="updated">never</span></p>
<script>
"use strict";
const $ = id => document.getElementById(id);
const fmt = n => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en-US");
function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
function duration(s) {
  if (s === null || s === undefined) return "unknown";
  s = Math.round(s); if (s < 90) return s + " s"; if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 172800) return (s / 3600).toFixed(1) + " h"; return (s / 86400).toFixed(1) + " days";
}
function rows(tbody, items, fill) { tbody.replaceChildren(); for (const it of items) { const tr = document.createElement("tr"); fill(tr, it); tbody.appendChild(tr); } }
function chart(samples) {
  const svg = $("chart"), W = 900, H = 160, pad = 24;
  const now = samples.length ? samples[samples.length - 1][0] : Date.now(), from = now - 3600e3;
  const pts = [];
  for (let i = 1; i < samples.length; i++) {
    const [t0, , d0] = samples[i - 1], [t1, , d1] = samples[i];
    if (t1 < from || t1 <= t0) continue;
    pts.push([t1, (d1 - d0) * 60000 / (t1 - t0)]);
  }
  const max = Math.max(1, ...pts.map(p => p[1]));
  const x = t => pad + (W - 2 * pad) * (t - from) / 3600e3, y = v => H - pad - (H - 2 * pad) * v / max;
  let s = `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#999"/>`;
  s += `<text x="${pad}" y="14" font-size="11" fill="#777">${fmt(Math.round(max))}/min</text>`;
  s += `<text x="${pad}" y="${H - 6}" font-size="11" fill="#777">-60 min</text><text x="${W - pad - 20}" y="${H - 6}" font-size="11" fill="#777">now</text>`;
  if (pts.length) s += `<polyline fill="none" stroke="#2b7de9" stroke-width="2" points="${pts.map(p => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ")}"/>`;
  svg.innerHTML = s;
}
function render(st) {
  const live = st.live || {};
  $("version").textContent = live.version || "";
  const pct = st.total ? 100 * st.ended / st.total : 100;
  $("summary").innerHTML = "";
  $("summary").append(`${fmt(st.ended)} of ${fmt(st.total)} DIDs ended (${pct.toFixed(1)}%) · ${fmt(st.dids.done)} done · ${fmt(st.dids.failed)} failed · ` +
    `${fmt(st.dids.pending + st.dids.running + st.dids.committing)} to go · ${fmt(st.records_total)} records · ${(st.bytes / 1e6).toFixed(1)} MB fetched`);
  $("summary").dataset.ended = st.ended; $("summary").dataset.total = st.total;
  $("bar").style.width = pct.toFixed(2) + "%";
  $("eta").textContent = st.total === st.ended ? "all DIDs have ended" :
    `${(live.dids_per_second || 0).toFixed(2)} DIDs/s · ETA ${duration(live.eta_seconds)}`;
  $("records").replaceChildren();
  for (const [type, n] of Object.entries(st.records)) { const tr = document.createElement("tr"); tr.dataset.type = type; cell(tr, type); cell(tr, fmt(n), "n"); $("records").appendChild(tr); }
  rows($("files").tBodies[0], st.spool_files, (tr, f) => {
    const d = f.dids, other = d.not_found + d.takendown + d.deactivated + d.suspended;
    tr.dataset.file = f.name;
    cell(tr, f.name); cell(tr, f.state); cell(tr, fmt(f.total), "total"); cell(tr, fmt(d.done), "done"); cell(tr, fmt(d.failed), "failed");
    cell(tr, fmt(d.pending + d.running + d.committing), "pending"); cell(tr, fmt(other), "other"); cell(tr, fmt(f.records), "records");
    cell(tr, f.started_at || "–"); cell(tr, f.finished_at || "–");
  });
  rows($("hosts").tBodies[0], st.hosts, (tr, h) => {
    tr.dataset.host = h.host;
    cell(tr, h.host); cell(tr, fmt(h.dids.done || 0), "done"); cell(tr, fmt(h.dids.failed || 0), "failed"); cell(tr, fmt(h.total), "ended");
    cell(tr, fmt(h.records), "records"); cell(tr, fmt(h.in_flight || 0), "in_flight"); cell(tr, fmt(h.rate_limited || 0), "rate_limited");
    cell(tr, h.paused_until || "–", h.paused_until ? "bad" : "");
  });
  rows($("failures").tBodies[0], st.failures, (tr, f) => { tr.dataset.did = f.did; cell(tr, f.did); cell(tr, fmt(f.attempts)); cell(tr, f.at || "–"); cell(tr, f.reason, "bad"); });
  chart(live.throughput || []);
  $("updated").textContent = live.now || new Date().toISOString();
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
}
async function refresh() {
  try { const r = await fetch("status.json", {cache: "no-store"}); if (r.ok) render(await r.json()); else $("updated").textContent = "error " + r.status; }
  catch (e) { $("updated").textContent = "unreachable (" + e.message + ")"; }
  setTimeout(refresh, 2000);
}
refresh();
</script></body></html>
)HTML";

}  // namespace bsky::ops
