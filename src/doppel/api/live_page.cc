// The built-in live page served at GET / when ApiOptions::static_dir is empty.
#include "doppel/api/static_files.h"

namespace doppel::api {

namespace {

constexpr std::string_view kLivePage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Doppel live</title>
<style>
  :root { color-scheme: dark; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #111418; color: #d8dee9; }
  header { display: flex; align-items: center; gap: 1em; padding: .8em 1.2em; background: #1a1f26;
           border-bottom: 1px solid #2b323c; }
  h1 { font-size: 1.1em; margin: 0; font-weight: 600; }
  #status { font-size: .9em; color: #8b95a5; }
  #status.live { color: #7fd18b; } #status.down { color: #e57373; }
  button { background: #2b323c; color: #d8dee9; border: 1px solid #3b4450; border-radius: 4px;
           padding: .25em .8em; cursor: pointer; }
  main { padding: 1em 1.2em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35em .7em; border-bottom: 1px solid #232a33; }
  th { color: #8b95a5; font-weight: 500; position: sticky; top: 0; background: #111418; }
  td.num { font-variant-numeric: tabular-nums; text-align: right; }
  td.twin { color: #88c0d0; } td.model { color: #8b95a5; font-size: .85em; }
  tr.flash td.num { animation: flash .8s ease-out; }
  @keyframes flash { from { background: #2e4a3a; } to { background: transparent; } }
  .q-bad { color: #e57373; } .q-uncertain { color: #e5c07b; }
  #error { color: #e57373; margin: .5em 0; }
</style>
</head>
<body>
<header><h1>Doppel</h1><span id="status">connecting…</span><span style="flex:1"></span>
<button id="tokenbtn" title="Enter another API token">Token</button></header>
<main>
<div id="error"></div>
<table>
<thead><tr><th>Twin</th><th>Model</th><th>Signal</th><th style="text-align:right">Value</th>
<th>Quality</th><th>Updated</th></tr></thead>
<tbody id="rows"></tbody>
</table>
</main>
<script>
"use strict";
const KEY = "doppel.token";
const rowsEl = document.getElementById("rows");
const statusEl = document.getElementById("status");
const errorEl = document.getElementById("error");
const rows = new Map();    // "twin\u0000signal" -> {tr, value, quality, ts}
const models = new Map();  // twin -> model
let ws = null;

function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  let t = localStorage.getItem(KEY);
  if (!t) {
    t = prompt("Doppel API token (viewer or above):") || "";
    if (t) localStorage.setItem(KEY, t);
  }
  return t;
}

function setStatus(text, cls) { statusEl.textContent = text; statusEl.className = cls || ""; }

function fmtTime(ns) {
  if (!ns) return "";
  return new Date(Number(ns) / 1e6).toLocaleTimeString();
}

function fmtValue(v) {
  if (typeof v !== "number") return String(v);
  return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(3);
}

function cell(tr, cls) { const td = document.createElement("td"); if (cls) td.className = cls; tr.appendChild(td); return td; }

function row(twin, signal) {
  const key = twin + "\u0000" + signal;
  let r = rows.get(key);
  if (r) return r;
  const tr = document.createElement("tr");
  r = { tr };
  cell(tr, "twin").textContent = twin;
  cell(tr, "model").textContent = models.get(twin) || "";
  cell(tr).textContent = signal;
  r.value = cell(tr, "num");
  r.quality = cell(tr);
  r.ts = cell(tr);
  rows.set(key, r);
  // Keep rows sorted by twin, then signal.
  const keys = [...rows.keys()].sort();
  const next = keys[keys.indexOf(key) + 1];
  rowsEl.insertBefore(tr, next ? rows.get(next).tr : null);
  return r;
}

function update(twin, signal, ts, value, quality) {
  const r = row(twin, signal);
  r.value.textContent = fmtValue(value);
  r.quality.textContent = quality || "good";
  r.quality.className = quality && quality !== "good" ? "q-" + quality : "";
  r.ts.textContent = fmtTime(ts);
  r.tr.classList.remove("flash");
  void r.tr.offsetWidth;
  r.tr.classList.add("flash");
}

async function loadTwins(t) {
  const res = await fetch("/api/v1/twins", { headers: { Authorization: "Bearer " + t } });
  if (res.status === 401) { localStorage.removeItem(KEY); throw new Error("token rejected (401)"); }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
  for (const tw of body.twins) {
    models.set(tw.id, tw.model);
    for (const [sig, v] of Object.entries(tw.telemetry || {})) update(tw.id, sig, v.ts, v.value, v.quality);
  }
}

function connect(t) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + "/api/v1/stream?token=" + encodeURIComponent(t));
  ws.onopen = () => { setStatus("live", "live"); ws.send(JSON.stringify({ subscribe: { twins: ["*"] } })); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "telemetry") {
      for (const e of msg.events) update(e.twin, e.signal, e.ts, e.value, e.quality);
    } else if (msg.type === "error") {
      errorEl.textContent = msg.message;
    }
  };
  ws.onclose = () => { setStatus("disconnected, retrying…", "down"); setTimeout(() => connect(t), 2000); };
}

async function start() {
  errorEl.textContent = "";
  const t = token();
  if (!t) { setStatus("no token", "down"); return; }
  try {
    await loadTwins(t);
    connect(t);
  } catch (e) {
    setStatus("error", "down");
    errorEl.textContent = e.message;
  }
}

document.getElementById("tokenbtn").onclick = () => {
  localStorage.removeItem(KEY);
  if (ws) { ws.onclose = null; ws.close(); }
  start();
};
start();
</script>
</body>
</html>
)html";

}  // namespace

std::string_view LivePageHtml() { return kLivePage; }

}  // namespace doppel::api
