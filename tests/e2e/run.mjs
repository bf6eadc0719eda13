#!/usr/bin/env node
// Browser end-to-end tests of the dashboard: playwright-core drives Debian's /usr/bin/chromium
// (headless; never a downloaded browser) against a real `doppel demo` (and, for the viewer and
// the 1,000-twin cases, a `doppel serve` fed over HTTP ingest).
//
//   node tests/e2e/run.mjs [--bin build/doppel] [--artifacts build/e2e-artifacts] [--only NAME]
//
// Needs web/dist (cd web && npm ci && npm run build) and web/node_modules (playwright-core).
// Prints one line per test and "N passed, N failed" last; exits non-zero on any failure.
// Screenshots of every view go to the artifacts directory.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const BIN = path.resolve(ROOT, opt('--bin', 'build/doppel'));
const ART = path.resolve(ROOT, opt('--artifacts', 'build/e2e-artifacts'));
const DIST = path.resolve(ROOT, opt('--web', 'web/dist'));
const ONLY = opt('--only', '');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const DEADLINE = Date.now() + 260_000; // hard stop well before a CI step would give up

const require = createRequire(path.join(ROOT, 'web', 'package.json'));
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch {
  console.error('e2e: playwright-core is missing: run `npm ci` in web/');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
for (const [p, what] of [[BIN, 'the doppel binary (--bin)'], [path.join(DIST, 'index.html'), 'the built dashboard (cd web && npm run build)'], [CHROMIUM, 'chromium (apt-get install chromium)']]) {
  if (!fs.existsSync(p)) {
    console.error(`e2e: ${what} not found at ${p}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
fs.mkdirSync(ART, { recursive: true });
for (const f of fs.readdirSync(ART)) if (/^failure-\d+\.png$/.test(f)) fs.rmSync(path.join(ART, f)); // from earlier runs

// --- processes -------------------------------------------------------------------------------
const children = [];
const tmpDirs = [];
function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function stopChild(c) {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await new Promise((r) => c.once('exit', r));
  clearTimeout(t);
}

function startDoppel(argv, logName) {
  const log = fs.createWriteStream(path.join(ART, logName));
  const c = spawn(BIN, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  c.stdout.on('data', (d) => ((out += d), log.write(d)));
  c.stderr.on('data', (d) => log.write(d));
  return { c, output: () => out };
}

async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (${last.message ?? last})` : ''}`);
}

async function api(base, token, method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Serves web/dist and proxies /api and /metrics (WebSocket too) to doppel: the fallback for a
 * doppel whose demo does not serve the dashboard yet. */
function startProxy(target, port) {
  const t = new URL(target);
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.glb': 'model/gltf-binary', '.json': 'application/json' };
  const server = http.createServer((req, res) => {
    if (req.url.startsWith('/api/') || req.url.startsWith('/metrics')) {
      const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', () => (res.writeHead(502), res.end()));
      req.pipe(up);
      return;
    }
    let p = decodeURIComponent(req.url.split('?')[0]);
    if (p.endsWith('/')) p += 'index.html';
    const file = path.join(DIST, path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  server.on('upgrade', (req, sock, head) => {
    const up = net.connect(Number(t.port), t.hostname, () => {
      up.write(`${req.method} ${req.url} HTTP/1.1\r\n` + Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n');
      up.write(head);
      sock.pipe(up).pipe(sock);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r(server)));
}

// --- the environment under test ----------------------------------------------------------------
const env = { notes: [] };

async function startDemo() {
  const help = (() => {
    try {
      return execFileSync(BIN, ['demo', '--help'], { cwd: ROOT, encoding: 'utf8' });
    } catch (e) {
      return String(e.stdout ?? '');
    }
  })();
  const port = await freePort();
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-e2e-demo-'));
  tmpDirs.push(data);
  const argv = ['demo', '--port', String(port), '--data', data, '--pumps', '3'];
  if (/--viewer-token/.test(help)) {
    env.viewerToken = 'e2e-viewer-' + Math.random().toString(36).slice(2);
    argv.push('--viewer-token', env.viewerToken);
  }
  if (/--static\b/.test(help)) argv.push('--static', DIST);
  const demo = startDoppel(argv, 'demo.log');
  env.demo = demo.c;
  const m = await waitFor(() => /Open\s+(http:\/\/\S+)\/#token=(\S+)/.exec(demo.output()), 30_000, 'the demo to print its URL');
  env.api = m[1];
  env.token = m[2];
  // Routes of issues 5-7 (alerts, health, annotations, approvals) that this server may not have yet:
  // the UI says "not available on this server" and the 404 its request causes is not an error.
  env.missing = [];
  const probes = [
    ['alerts', '/api/v1/alerts?limit=1', /\/api\/v1\/alerts/],
    ['health', '/api/v1/twins/pump-1/health', /\/api\/v1\/twins\/[^/]+\/health/],
    ['annotations', '/api/v1/twins/pump-1/annotations', /\/api\/v1\/twins\/[^/]+\/annotations/],
    ['control-mode', '/api/v1/twins/pump-1/control-mode', /\/api\/v1\/twins\/[^/]+\/control-mode/],
  ];
  for (const [name, p, re] of probes) {
    const r = await api(env.api, env.token, 'GET', p);
    if (r.status === 404 && /no route/.test(r.json?.error?.message ?? '')) {
      env.missing.push(re);
      env.notes.push(`the server has no ${name} route yet: the UI shows "not available", its 404 is not counted`);
    }
  }
  env.has = (name) => !env.missing.some((re) => re.source.includes(name));
  if ((await api(env.api, env.token, 'GET', '/api/v1/me')).status === 404) {
    env.noMe = true;
    env.notes.push('the server has no GET /api/v1/me: the UI fell back to probing, and its 404 was ignored here (the acceptance check counts it as a browser error)');
  }
  const index = await fetch(env.api + '/').then((r) => r.text());
  if (index.includes('doppel-dashboard')) {
    env.base = env.api;
  } else {
    const pport = await freePort();
    env.proxy = await startProxy(env.api, pport);
    env.base = `http://127.0.0.1:${pport}`;
    env.notes.push('demo does not serve web/dist yet: the dashboard was served by a local proxy to the demo API');
  }
}

/** A `doppel serve` with admin + viewer tokens and HTTP ingest only (no plant): for the viewer case
 * when the demo has no --viewer-token, and for the 1,000-twin load. */
async function startServe() {
  if (env.serve) return env.serve;
  const port = await freePort();
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-e2e-serve-'));
  tmpDirs.push(data);
  const cfg = path.join(data, 'doppel.yaml');
  const s = { admin: 'e2e-admin-' + Math.random().toString(36).slice(2), viewer: 'e2e-viewer-' + Math.random().toString(36).slice(2) };
  fs.writeFileSync(
    cfg,
    [
      `listen: 127.0.0.1:${port}`,
      `data_dir: ${path.join(data, 'data')}`,
      `models: ${path.join(ROOT, 'examples', 'models')}`,
      `static_dir: ${DIST}`,
      'tokens:',
      `  - { token: ${s.admin}, role: admin }`,
      `  - { token: ${s.viewer}, role: viewer }`,
      '',
    ].join('\n'),
  );
  const p = startDoppel(['serve', '--config', cfg], 'serve.log');
  s.proc = p.c;
  s.base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(s.base + '/api/v1/health')).ok, 30_000, 'doppel serve to answer');
  env.serve = s;
  return s;
}

// --- browser -----------------------------------------------------------------------------------
let browser;

async function newPage(viewport = { width: 1440, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // Until the server has GET /api/v1/me, the UI's first call to it is a 404 that Chromium logs.
    if (env.noMe && /\/api\/v1\/me$/.test(m.location()?.url ?? '')) return;
    if (/status of 404/.test(m.text()) && (env.missing ?? []).some((re) => re.test(m.location()?.url ?? ''))) return;
    page.errors.push(m.text() + (m.location()?.url ? ` (${m.location().url})` : ''));
  });
  return page;
}

function noErrors(page, allow = []) {
  const bad = page.errors.filter((e) => !allow.some((re) => re.test(e)));
  if (bad.length) throw new Error(`browser errors: ${bad.slice(0, 3).join(' | ')}`);
}

const shot = (page, name) => page.screenshot({ path: path.join(ART, `${name}.png`) });

// --- tests ---------------------------------------------------------------------------------------
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
let shared; // the fleet page, reused by the tests that follow it

test('fleet loads, token leaves the address bar, tiles update live', async () => {
  const page = (shared = await newPage());
  await page.goto(`${env.base}/#token=${env.token}`, { waitUntil: 'domcontentloaded' });
  const tile = page.locator('.tile[data-twin="pump-1"]');
  await tile.waitFor({ timeout: 15_000 });
  const hash = await page.evaluate(() => location.hash);
  if (hash.includes('token')) throw new Error(`token still in the URL: ${hash}`);
  for (const id of ['pump-2', 'pump-3', 'tank-1']) await page.locator(`.tile[data-twin="${id}"]`).waitFor({ timeout: 5000 });
  await page.locator('.group[data-group="station-1"] .tile[data-twin="pump-1"]').waitFor({ timeout: 5000 });
  const flow = tile.locator('[data-signal="flow_m3h"] .v');
  const readKpis = () => tile.locator('.kpis').innerText();
  const first = await waitFor(async () => {
    const t = await flow.innerText();
    return t !== '—' && (await readKpis());
  }, 10_000, 'pump-1 to show a flow value');
  await waitFor(async () => (await readKpis()) !== first, 10_000, 'pump-1 KPIs to change');
  await page.locator('.stream-state.st-open').waitFor({ timeout: 5000 });
  const canvases = await page.locator('canvas').count();
  if (canvases < 1) throw new Error('no canvas on the fleet view');
  await page.waitForTimeout(1500);
  await shot(page, 'fleet');
  noErrors(page);
});

test('twin view: charts seeded from history gain points from the stream', async () => {
  const page = shared;
  await page.locator('.tile[data-twin="pump-1"]').click();
  const chart = page.locator('#chart-flow_m3h');
  await chart.waitFor({ timeout: 10_000 });
  await page.locator('#chart-flow_m3h canvas').first().waitFor({ timeout: 10_000 });
  const n0 = Number(await waitFor(async () => Number(await chart.getAttribute('data-points')) > 0 && chart.getAttribute('data-points'), 10_000, 'history points'));
  await waitFor(async () => Number(await chart.getAttribute('data-points')) > n0, 10_000, `more than ${n0} points`);
  const charts = await page.locator('.chart').count();
  if (charts < 6) throw new Error(`expected 6 pump charts, got ${charts}`);
  // The live detector's per-signal anomaly score is charted from its stored series.
  const anomaly = page.locator('.chart[data-signal="anomaly.flow_m3h"]');
  await anomaly.waitFor({ timeout: 10_000 });
  await waitFor(async () => Number(await anomaly.getAttribute('data-points')) > 0, 10_000, 'anomaly score points');
  await page.waitForTimeout(1000);
  await shot(page, 'twin');
  noErrors(page);
});

test('twin view: zooming re-fetches the visible range from the server', async () => {
  const page = shared;
  const over = page.locator('#chart-flow_m3h .u-over');
  const box = await over.boundingBox();
  const req = page.waitForRequest((r) => r.url().includes('/telemetry?') && /[?&]to=\d+/.test(r.url()), { timeout: 10_000 });
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
  await page.mouse.wheel(0, -300);
  const r = await req;
  const u = new URL(r.url());
  const from = BigInt(u.searchParams.get('from'));
  const to = BigInt(u.searchParams.get('to'));
  if (!(to > from)) throw new Error(`bad range ${from}..${to}`);
  const live = await page.locator('#live').getAttribute('class');
  if (live.includes(' on')) throw new Error('still in live mode after zooming');
  await page.locator('#live').click();
  await page.waitForFunction(() => document.querySelector('#live')?.classList.contains('on'));
  noErrors(page);
});

test('command from the UI is acked, with its audit trail', async () => {
  const page = shared;
  const form = page.locator('#command-form-setSpeed');
  await form.waitFor({ timeout: 10_000 });
  await page.locator('#cmd-setSpeed-speed_rpm').fill('1234');
  const resp = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/commands'));
  await form.locator('button[type=submit]').click();
  const posted = await (await resp).json();
  if (!posted.id) throw new Error('no command id in the answer');
  const row = page.locator(`.cmd[data-command-id="${posted.id}"]`);
  await row.waitFor({ timeout: 10_000 });
  await waitFor(async () => (await row.getAttribute('data-status')) === 'acked', 15_000, `command ${posted.id} to be acked`);
  await row.locator('summary').click();
  const trail = await row.locator('.audit').innerText();
  for (const s of ['proposed', 'sent', 'acked']) if (!trail.toLowerCase().includes(s)) throw new Error(`audit trail lacks ${s}: ${trail}`);
  const check = await api(env.api, env.token, 'GET', `/api/v1/twins/pump-1/commands/${posted.id}`);
  if (check.json.status !== 'acked' || check.json.request.speed_rpm !== 1234) throw new Error(`server has ${JSON.stringify(check.json)}`);
  await page.locator('#panel-commands').scrollIntoViewIfNeeded();
  await shot(page, 'commands');
  noErrors(page);
});

test('3D view renders the station; hotspots are coloured; clicking one opens its chart', async () => {
  const page = shared;
  await page.evaluate(() => (location.hash = '#/3d'));
  await page.locator('#stage3d canvas').first().waitFor({ timeout: 15_000 });
  const nogl = await page.locator('.nogl').count();
  if (nogl) throw new Error('WebGL unavailable in this chromium');
  await page.waitForFunction(() => (window.__doppel3d?.frames ?? 0) > 0, null, { timeout: 15_000 });
  const spots = await waitFor(async () => {
    const s = await page.evaluate(() => window.__doppel3d?.hotspots() ?? []);
    return s.length >= 3 * 6 + 2 && s.every((h) => h.color !== '64748b') && s;
  }, 10_000, 'all hotspots to have live colours');
  await page.waitForTimeout(500);
  await shot(page, 'station3d');
  const target = spots.find((s) => s.twin === 'pump-2' && s.signal === 'motor_temp_c');
  await page.mouse.move(target.x, target.y);
  await page.locator('.tip3d:not([hidden])').waitFor({ timeout: 5000 });
  await shot(page, 'station3d-hover');
  await page.mouse.click(target.x, target.y);
  await page.waitForFunction(() => location.hash.startsWith('#/twin/pump-2') && location.hash.includes('signal=motor_temp_c'), null, { timeout: 5000 });
  await page.locator('#chart-motor_temp_c.focus').waitFor({ timeout: 10_000 });
  noErrors(page);
});

test('sign-in form: a bad token is refused, a good one signs in', async () => {
  const page = await newPage({ width: 1280, height: 800 });
  await page.goto(`${env.base}/`, { waitUntil: 'domcontentloaded' });
  await page.locator('#signin').waitFor({ timeout: 10_000 });
  await page.locator('#token').fill('not-a-token');
  await page.locator('#signin button[type=submit]').click();
  await page.locator('.form-error', { hasText: 'not accepted' }).waitFor({ timeout: 5000 });
  await shot(page, 'signin');
  await page.locator('#token').fill(env.token);
  await page.locator('#signin button[type=submit]').click();
  await page.locator('.tile[data-twin="pump-1"]').waitFor({ timeout: 15_000 });
  const stored = await page.evaluate(() => sessionStorage.getItem('doppel.token'));
  if (stored !== env.token) throw new Error('token not kept in sessionStorage');
  await shot(page, 'fleet-1280');
  noErrors(page, [/401/]);
  await page.context().close();
});

test('a viewer sees no command controls (and the server refuses its commands)', async () => {
  let base;
  let token;
  let admin;
  let apiBase;
  if (env.viewerToken) {
    (base = env.base), (token = env.viewerToken), (admin = env.token), (apiBase = env.api);
  } else {
    const s = await startServe();
    (base = s.base), (token = s.viewer), (admin = s.admin), (apiBase = s.base);
    env.notes.push('viewer case ran against `doppel serve` (the demo has no --viewer-token)');
    const r = await api(apiBase, admin, 'POST', '/api/v1/twins', { id: 'pump-1', model: 'dtmi:doppel:demo:Pump;1' });
    if (r.status !== 201 && r.status !== 409) throw new Error(`creating pump-1: ${r.status}`);
    const now = BigInt(Date.now()) * 1000000n;
    const readings = [];
    for (let i = 0; i < 30; i++) {
      const ts = Number(now - BigInt(30 - i) * 1000000000n);
      readings.push({ twin: 'pump-1', signal: 'flow_m3h', ts, value: 100 + i }, { twin: 'pump-1', signal: 'speed_rpm', ts, value: 1450 });
    }
    const ing = await api(apiBase, admin, 'POST', '/api/v1/ingest', { readings });
    if (ing.status !== 200) throw new Error(`ingest: ${ing.status} ${JSON.stringify(ing.json)}`);
  }
  const page = await newPage();
  await page.goto(`${base}/#token=${token}`, { waitUntil: 'domcontentloaded' });
  await page.locator('.role[data-role="viewer"]').waitFor({ timeout: 15_000 });
  await page.evaluate(() => (location.hash = '#/twin/pump-1'));
  await page.locator('#panel-commands').waitFor({ timeout: 10_000 });
  await page.locator('.readonly-note').waitFor({ timeout: 5000 });
  const forms = await page.locator('.command-form, #command-form-setSpeed, button[data-command]').count();
  if (forms) throw new Error(`a viewer sees ${forms} command controls`);
  await page.locator('#command-history').waitFor();
  await shot(page, 'viewer');
  // The probe fallback (no /api/v1/me) logs one 403 from the write probe; nothing else is allowed.
  noErrors(page, [/status of 403/, /status of 404/]);
  const r = await api(apiBase, token, 'POST', '/api/v1/twins/pump-1/commands', { name: 'setSpeed', request: { speed_rpm: 1000 } });
  if (r.status !== 403) throw new Error(`viewer command answered ${r.status}, want 403`);
  await page.context().close();
});

class Skip extends Error {}
const needs = (name, what) => {
  if (!env.has(name)) throw new Skip(`the server has no ${what} yet`);
};

/** Fills the what-if panel (horizon in minutes, speed setpoint), clicks Run and returns the
 * job the server accepted (202). */
async function runWhatIf(page, minutes, rpm) {
  await page.locator('#wi-horizon').fill(String(minutes));
  await page.locator('#wi-speed').fill(String(rpm));
  const resp = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/whatif/jobs'));
  await page.locator('#wi-run').click();
  const r = await resp;
  if (r.status() !== 202) throw new Error(`whatif job answered ${r.status()}: ${await r.text()}`);
  return r.json();
}

test('what-if: a run draws the baseline and what-if bands over the prediction horizon', async () => {
  const page = shared;
  await page.evaluate(() => (location.hash = '#/twin/pump-1'));
  const form = page.locator('#whatif-form');
  await form.waitFor({ timeout: 10_000 });
  // The estimate overlay: the speed chart has est.* points from history or /state.
  await waitFor(async () => Number(await page.locator('#chart-speed_rpm').getAttribute('data-est-points')) > 0, 10_000, 'estimate points on the speed chart');
  await page.locator('#chart-est\\.impeller_wear').waitFor({ timeout: 5000 });
  const started = await runWhatIf(page, 5, 900);
  const chart = page.locator('#whatif-chart[data-bands="2"]');
  await chart.waitFor({ timeout: 20_000 });
  // The chart shows the job's result.
  const job = await api(env.api, env.token, 'GET', `/api/v1/whatif/jobs/${started.id}`);
  if (job.status !== 200 || job.json.state !== 'done') throw new Error(`the job is ${job.status} ${JSON.stringify(job.json).slice(0, 200)}`);
  if (job.json.progress !== 1) throw new Error(`a done job has progress ${job.json.progress}`);
  const ans = job.json.result;
  const pts = Number(await chart.getAttribute('data-points'));
  if (pts !== ans.t.length) throw new Error(`chart has ${pts} prediction points, the answer ${ans.t.length}`);
  const base = ans.scenarios.find((x) => x.name === 'baseline').outputs.flow_m3h;
  const what = ans.scenarios.find((x) => x.name === 'what-if').outputs.flow_m3h;
  const last = ans.t.length - 1;
  if (!(base.p5[last] <= base.p50[last] && base.p50[last] <= base.p95[last])) throw new Error('baseline band not ordered');
  if (Math.abs(what.p50[last] - base.p50[last]) < 1e-6) throw new Error('the what-if (900 rpm) predicts the same flow as the baseline');
  // Something was drawn: the band's fill colour appears on the canvas.
  const painted = await page.evaluate(() => {
    const c = document.querySelector('#whatif-chart canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 120 && d[i + 1] > 70 && d[i + 2] < 60) n++; // amber
    return n;
  });
  if (painted < 50) throw new Error(`the what-if band is not drawn (${painted} amber pixels)`);
  await shot(page, 'whatif');
  noErrors(page);
});

test('what-if: a long run shows its progress and stops when cancelled', async () => {
  const page = shared;
  await page.evaluate(() => (location.hash = '#/twin/pump-1'));
  await page.locator('#whatif-form').waitFor({ timeout: 10_000 });
  // Close the previous test's prediction, so a chart drawn by the cancelled run would show.
  if (await page.locator('#whatif-chart').count()) await page.locator('#whatif-chart button[title="Close"]').click();
  await waitFor(async () => (await page.locator('#whatif-chart').count()) === 0, 5000, 'the previous prediction to close');
  // Three days ahead: about 2·10⁷ RK4 steps, several seconds of server work.
  const started = await runWhatIf(page, 4320, 1100);
  await waitFor(async () => Number(await page.locator('#wi-progress').evaluate((e) => e.value)) > 0, 20_000, 'what-if progress above 0');
  if (!(await page.locator('#wi-run').isDisabled())) throw new Error('Run is enabled while a what-if runs');
  const del = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes(`/whatif/jobs/${started.id}`));
  await page.locator('#wi-cancel').click();
  if ((await del).status() !== 202) throw new Error(`cancel answered ${(await del).status()}`);
  await waitFor(async () => /Cancelled at \d+ %/.test(await page.locator('#wi-status').innerText()), 20_000, 'the status to say cancelled');
  const job = await api(env.api, env.token, 'GET', `/api/v1/whatif/jobs/${started.id}`);
  if (job.json.state !== 'cancelled') throw new Error(`the job is ${job.json.state}, not cancelled`);
  if (!(job.json.progress > 0 && job.json.progress < 1)) throw new Error(`a cancelled job has progress ${job.json.progress}`);
  if (await page.locator('#wi-run').isDisabled()) throw new Error('Run stays disabled after the cancel');
  if (!(await page.locator('#wi-cancel').isHidden())) throw new Error('Cancel stays visible after the cancel');
  if ((await page.locator('#whatif-chart').count()) !== 0) throw new Error('a cancelled what-if drew a chart');
  await shot(page, 'whatif-cancelled');
  noErrors(page);
});

test('RUL: a turbofan twin shows its remaining useful life with the p5-p95 band', async () => {
  const page = shared;
  const id = 'engine-e2e';
  const made = await api(env.api, env.token, 'POST', '/api/v1/twins', { id, model: 'dtmi:doppel:demo:Turbofan;1' });
  if (made.status !== 201) throw new Error(`creating ${id} answered ${made.status}: ${JSON.stringify(made.json)}`);
  // Sixty cycles of a falling RUL with a band around it, one per second over the last minute.
  const now = Date.now();
  const readings = [];
  for (let i = 0; i < 60; i++) {
    const ts = (BigInt(now - (60 - i) * 1000) * 1000000n).toString();
    const rul = 150 - i;
    for (const [signal, value] of [['rul_cycles', rul], ['rul_p5_cycles', rul - 20], ['rul_p95_cycles', rul + 25]]) readings.push(`{"twin":"${id}","signal":"${signal}","ts":${ts},"value":${value}}`);
  }
  const res = await fetch(`${env.api}/api/v1/ingest`, { method: 'POST', headers: { Authorization: `Bearer ${env.token}`, 'Content-Type': 'application/json' }, body: `{"readings":[${readings.join(',')}]}` });
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
  await page.evaluate((t) => (location.hash = '#/twin/' + t), id);
  const chart = page.locator('.chart[data-signal="rul_cycles"]');
  await chart.waitFor({ timeout: 10_000 });
  await waitFor(async () => Number(await chart.getAttribute('data-points')) >= 60, 10_000, 'RUL points');
  if (!(await chart.locator('.est-legend').innerText()).includes('p5')) throw new Error('the RUL chart has no band legend');
  if (await page.locator('.chart[data-signal="rul_p5_cycles"]').count()) throw new Error('the p5 series got a chart of its own');
  const first = await page.locator('.chart').first().getAttribute('data-signal');
  if (first !== 'rul_cycles') throw new Error(`the RUL is not the first chart (${first} is)`);
  await page.waitForTimeout(500);
  await shot(page, 'rul');
  noErrors(page);
});

test('RUL: a pump twin shows the RUL from its wear trend with the p5-p95 band', async () => {
  // The shared demo runs in real time: its pumps' wear (about 1 %/day) needs an hour of source time
  // before the engine fits a trend. A second demo at --time-scale 600 (10 simulated minutes per
  // second, 5 per message) gives its pump a RUL within seconds; everything else is the same demo.
  // Its source time runs ahead of the wall clock, so the live charts' window (wall clock) shows
  // little of it: the test checks the chart's points, band legend and place, not the picture.
  if (env.base !== env.api) throw new Skip('the demo does not serve the dashboard itself');
  const port = await freePort();
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-e2e-fast-'));
  tmpDirs.push(data);
  const fast = startDoppel(['demo', '--port', String(port), '--data', data, '--pumps', '1', '--time-scale', '600', '--static', DIST], 'demo-fast.log');
  try {
    const m = await waitFor(() => /Open\s+(http:\/\/\S+)\/#token=(\S+)/.exec(fast.output()), 30_000, 'the fast demo to print its URL');
    const [base, token] = [m[1], m[2]];
    const rul = await waitFor(async () => {
      const r = await api(base, token, 'GET', '/api/v1/twins/pump-1');
      const t = r.json?.telemetry ?? {};
      return t.rul_h && t.rul_p5_h && t.rul_p95_h && [t.rul_p5_h.value, t.rul_h.value, t.rul_p95_h.value];
    }, 45_000, 'pump-1 of the fast demo to get a RUL');
    if (!(rul[0] <= rul[1] && rul[1] <= rul[2] && rul[0] >= 0)) throw new Error(`RUL band out of order: ${rul}`);
    const page = await newPage();
    try {
      await page.goto(`${base}/#token=${token}`, { waitUntil: 'domcontentloaded' });
      await page.evaluate(() => (location.hash = '#/twin/pump-1'));
      const chart = page.locator('.chart[data-signal="rul_h"]');
      await chart.waitFor({ timeout: 10_000 });
      // A new RUL point closes every few seconds of wall time at this time scale; a loaded machine
      // (a parallel build) slows the demo, so wait as long as for the first RUL.
      await waitFor(async () => Number(await chart.getAttribute('data-points')) >= 2, 45_000, 'pump RUL points');
      if (!(await chart.locator('.est-legend').innerText()).includes('p5')) throw new Error('the pump RUL chart has no band legend');
      if (await page.locator('.chart[data-signal="rul_p5_h"]').count()) throw new Error('the p5 series got a chart of its own');
      const first = await page.locator('.chart').first().getAttribute('data-signal');
      if (first !== 'rul_h') throw new Error(`the RUL is not the first chart (${first} is)`);
      await page.waitForTimeout(500);
      await shot(page, 'rul-pump');
      // The twin view asks for the fused "anomaly" score, which a twin only has once its multivariate
      // detector has scored a row: a 404 before that is not this test's concern.
      noErrors(page, [/\/telemetry\?signal=anomaly&/]);
    } finally {
      await page.context().close();
    }
  } finally {
    await stopChild(fast.c);
  }
});

test('maintenance: work orders imported over the API show in the twin view', async () => {
  const page = shared;
  const csv = 'id,twin,kind,status,planned_start_ns,description\nWO-E2E-1,pump-2,inspection,planned,2030-01-15T07:00:00Z,Quarterly vibration route\n';
  const res = await fetch(`${env.api}/api/v1/context/workorders?format=csv`, { method: 'POST', headers: { Authorization: `Bearer ${env.token}`, 'Content-Type': 'text/csv' }, body: csv });
  if (res.status !== 200) throw new Error(`import answered ${res.status}: ${await res.text()}`);
  await page.evaluate(() => (location.hash = '#/twin/pump-2'));
  const row = page.locator('#wo-open [data-wo="WO-E2E-1"]');
  await row.waitFor({ timeout: 10_000 });
  if (!(await row.innerText()).includes('inspection')) throw new Error(`work order row reads ${await row.innerText()}`);
  await shot(page, 'maintenance');
  noErrors(page);
});

test('MPC plan: the tank shows the planned level inside its band, a pump its planned speeds', async () => {
  const page = shared;
  // The demo runs the MPC in advisory mode; its first plan comes with the first tank level.
  const plan = await waitFor(async () => {
    const r = await api(env.api, env.token, 'GET', '/api/v1/control/plan');
    return r.status === 200 && r.json.running && r.json.ts !== null && r.json;
  }, 30_000, 'the MPC to plan');
  await page.evaluate(() => (location.hash = '#/twin/tank-1'));
  const chart = page.locator('#mpc-plan-chart');
  await chart.waitFor({ timeout: 15_000 });
  const n = Number(await waitFor(async () => chart.getAttribute('data-points'), 10_000, 'plan points'));
  if (n !== plan.planned_level_m.length) throw new Error(`plan chart has ${n} points, the plan ${plan.planned_level_m.length}`);
  await chart.locator('canvas').first().waitFor({ timeout: 5000 });
  await shot(page, 'mpc-plan');
  await page.evaluate(() => (location.hash = '#/twin/pump-1'));
  await page.locator('#mpc-plan-chart').waitFor({ timeout: 15_000 });
  noErrors(page);
});

test('alerts: an alert is raised and acknowledged from the UI', async () => {
  needs('alerts', 'alert routes');
  const page = shared;
  let alert = (await api(env.api, env.token, 'GET', '/api/v1/alerts?state=raised&limit=20')).json.alerts[0];
  let restore = null;
  if (!alert) {
    // Drive one: stop pump-3 (low flow, see the demo's alert rules), restore it afterwards.
    const before = (await api(env.api, env.token, 'GET', '/api/v1/twins/pump-3')).json.telemetry?.speed_rpm?.value ?? 1450;
    restore = Math.round(before);
    await api(env.api, env.token, 'POST', '/api/v1/twins/pump-3/commands', { name: 'setSpeed', request: { speed_rpm: 0 } });
    alert = await waitFor(async () => (await api(env.api, env.token, 'GET', '/api/v1/alerts?state=raised&limit=20')).json.alerts[0], 45_000, 'an alert to be raised (pump-3 stopped)');
  }
  try {
    await page.evaluate(() => (location.hash = '#/alerts'));
    // The demo's rules raise and clear quickly: show every alert, so one that cleared before
    // anyone looked (still to acknowledge) is on the list too.
    await page.locator('#alert-state').selectOption('all');
    const row = page.locator(`.alert-row[data-alert-id="${alert.id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await shot(page, 'alerts');
    await row.locator('.ack-btn').click();
    await waitFor(async () => ['acknowledged', 'cleared'].includes(await row.getAttribute('data-state')), 10_000, `alert ${alert.id} to show acknowledged`);
    const all = (await api(env.api, env.token, 'GET', '/api/v1/alerts?limit=200')).json.alerts;
    const got = all.find((a) => a.id === alert.id);
    if (!got?.acked_by) throw new Error(`server has ${JSON.stringify(got)}`);
    await shot(page, 'alerts-acked');
    noErrors(page);
  } finally {
    if (restore !== null) await api(env.api, env.token, 'POST', '/api/v1/twins/pump-3/commands', { name: 'setSpeed', request: { speed_rpm: restore } });
  }
});

test('annotations: a note made in one browser appears live in another', async () => {
  needs('annotations', 'annotation routes');
  const a = shared;
  const b = await newPage({ width: 1280, height: 800 });
  try {
    await b.goto(`${env.base}/#token=${env.viewerToken ?? env.token}`, { waitUntil: 'domcontentloaded' });
    await b.locator('.tile[data-twin="pump-1"]').waitFor({ timeout: 15_000 });
    await b.evaluate(() => (location.hash = '#/twin/pump-1'));
    await b.locator('#annotation-list').waitFor({ timeout: 10_000 });
    await a.evaluate(() => (location.hash = '#/twin/pump-1'));
    await a.locator('#annotation-form').waitFor({ timeout: 10_000 });
    // Pick a range on the flow chart, then write the note.
    await a.locator('#annotation-pick').click();
    const box = await a.locator('#chart-flow_m3h .u-over').boundingBox();
    await a.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await a.mouse.down();
    await a.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2, { steps: 5 });
    await a.mouse.up();
    await a.locator('#annotation-range', { hasText: 'flow_m3h' }).waitFor({ timeout: 5000 });
    const text = 'e2e note ' + Math.random().toString(36).slice(2, 8);
    await a.locator('#annotation-text').fill(text);
    const resp = a.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/annotations'));
    await a.locator('#annotation-save').click();
    const created = await (await resp).json();
    if (created.signal !== 'flow_m3h' || !(created.to_ns > created.from_ns)) throw new Error(`created ${JSON.stringify(created)}`);
    // Live in the other browser (pushed over its stream; the panel does not poll).
    await b.locator('.ann', { hasText: text }).waitFor({ timeout: 10_000 });
    await shot(a, 'annotations');
    await shot(b, 'annotations-other');
    noErrors(a);
    noErrors(b);
  } finally {
    await b.context().close();
  }
});

test('approvals: a viewer cannot approve a proposed command; an operator can', async () => {
  needs('control-mode', 'approval routes');
  if (!env.viewerToken) throw new Skip('the demo has no --viewer-token');
  const twin = 'pump-2';
  const prev = (await api(env.api, env.token, 'GET', `/api/v1/twins/${twin}/control-mode`)).json.mode;
  const put = await fetch(`${env.api}/api/v1/twins/${twin}/control-mode`, { method: 'PUT', headers: { Authorization: `Bearer ${env.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ mode: 'approve' }) });
  if (!put.ok) throw new Error(`PUT control-mode: ${put.status}`);
  try {
    const sub = await api(env.api, env.token, 'POST', `/api/v1/twins/${twin}/commands`, { name: 'setSpeed', request: { speed_rpm: 1300 }, source: 'api' });
    let cmd = sub.json;
    if (cmd?.status !== 'proposed') {
      const list = (await api(env.api, env.token, 'GET', `/api/v1/twins/${twin}/commands`)).json.commands;
      cmd = list.find((c) => c.status === 'proposed');
      if (!cmd) throw new Error(`no proposed command on ${twin} in approve mode (a submitted one went ${sub.json?.status})`);
    }
    const v = await newPage({ width: 1280, height: 800 });
    try {
      await v.goto(`${env.base}/#token=${env.viewerToken}`, { waitUntil: 'domcontentloaded' });
      await v.locator('.role[data-role="viewer"]').waitFor({ timeout: 15_000 });
      await v.evaluate((t) => (location.hash = `#/twin/${t}`), twin);
      const vrow = v.locator(`.cmd[data-command-id="${cmd.id}"][data-status="proposed"]`);
      await vrow.waitFor({ timeout: 10_000 });
      const controls = await v.locator('.approve-btn, .reject-btn, #control-mode button').count();
      if (controls) throw new Error(`a viewer sees ${controls} approval controls`);
      await shot(v, 'approvals-viewer');
      const r = await api(env.api, env.viewerToken, 'POST', `/api/v1/twins/${twin}/commands/${cmd.id}/approve`, {});
      if (r.status !== 403) throw new Error(`viewer approve answered ${r.status}, want 403`);
    } finally {
      await v.context().close();
    }
    const page = shared;
    await page.evaluate((t) => (location.hash = `#/twin/${t}`), twin);
    const row = page.locator(`.cmd[data-command-id="${cmd.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await page.locator('#control-mode .seg.on[data-mode="approve"]').waitFor({ timeout: 5000 });
    await shot(page, 'approvals');
    await row.locator('.approve-btn').click();
    await waitFor(async () => ['approved', 'sent', 'acked'].includes(await row.getAttribute('data-status')), 10_000, `command ${cmd.id} to be approved`);
    const after = (await api(env.api, env.token, 'GET', `/api/v1/twins/${twin}/commands/${cmd.id}`)).json;
    const statuses = (after.audit ?? after.history ?? []).map((e) => e.status);
    if (!statuses.includes('approved')) throw new Error(`audit lacks approved: ${statuses.join(',')}`);
    noErrors(page);
  } finally {
    await fetch(`${env.api}/api/v1/twins/${twin}/control-mode`, { method: 'PUT', headers: { Authorization: `Bearer ${env.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ mode: prev ?? 'advisory' }) });
  }
});

test('1,000 twins: the fleet view keeps up with the stream', async () => {
  const s = await startServe();
  const N = 1000;
  const twins = Array.from({ length: N }, (_, i) => `pump-${String(i + 1).padStart(4, '0')}`);
  // Create them in parallel batches (POST /api/v1/twins is one twin per call).
  for (let i = 0; i < N; i += 50) {
    await Promise.all(twins.slice(i, i + 50).map((id) => api(s.base, s.admin, 'POST', '/api/v1/twins', { id, model: 'dtmi:doppel:demo:Pump;1' })));
  }
  const signals = ['flow_m3h', 'discharge_pressure_bar', 'power_kw', 'motor_temp_c', 'vibration_mm_s', 'speed_rpm'];
  const typical = [120, 2.6, 12, 70, 2.2, 1450];
  let tick = 0;
  let feeding = true;
  const feed = (async () => {
    while (feeding) {
      const ts = Date.now() * 1e6;
      const readings = [];
      tick++;
      for (let i = 0; i < N; i++) for (const [k, sig] of signals.entries()) readings.push({ twin: twins[i], signal: sig, ts, value: typical[k] * (0.9 + 0.2 * (((i * 7 + tick * 3 + k) % 11) / 10)) });
      await api(s.base, s.admin, 'POST', '/api/v1/ingest', { readings }).catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const page = await newPage();
  try {
    await page.goto(`${s.base}/#token=${s.admin}`, { waitUntil: 'domcontentloaded' });
    await page.locator(`.tile[data-twin="${twins[N - 1]}"]`).waitFor({ timeout: 20_000 });
    await page.waitForFunction((n) => document.querySelectorAll('.tile').length >= n, N, { timeout: 10_000 });
    await page.waitForTimeout(1500);
    // Measure frames for 3 s while ~12,000 events/s arrive.
    const m = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const gaps = [];
          let last = performance.now();
          const start = last;
          const startCount = window.performance.getEntriesByType('resource').length;
          const f = (t) => {
            gaps.push(t - last);
            last = t;
            if (t - start < 3000) requestAnimationFrame(f);
            else {
              gaps.sort((a, b) => a - b);
              resolve({ frames: gaps.length, p50: gaps[Math.floor(gaps.length / 2)], p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps[gaps.length - 1], startCount });
            }
          };
          requestAnimationFrame(f);
        }),
    );
    const text = await page.locator(`.tile[data-twin="${twins[N - 1]}"] [data-signal="flow_m3h"] .v`).innerText();
    await shot(page, 'fleet-1000');
    env.notes.push(`1,000 twins: ${m.frames} frames in 3 s, frame gap p50 ${m.p50.toFixed(1)} ms, p95 ${m.p95.toFixed(1)} ms, max ${m.max.toFixed(0)} ms`);
    if (text === '—') throw new Error('last tile never got a value');
    if (m.frames < 30 || m.p95 > 250) throw new Error(`not smooth: ${JSON.stringify(m)}`);
    noErrors(page);
  } finally {
    feeding = false;
    await feed;
    await page.context().close();
  }
});

// --- run -----------------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  await startDemo();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // launch() gives every run a fresh temporary profile (it refuses --user-data-dir).
  });
  await new Promise((r) => setTimeout(r, 2000)); // a little history for the charts
  for (const t of tests) {
    if (ONLY && !t.name.includes(ONLY)) continue;
    const t0 = Date.now();
    if (Date.now() > DEADLINE) {
      failed++;
      console.log(`FAIL ${t.name}: not run (time budget spent)`);
      continue;
    }
    try {
      await t.fn();
      passed++;
      console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      if (e instanceof Skip) {
        skipped++;
        console.log(`skip ${t.name}: ${e.message}`);
        continue;
      }
      failed++;
      console.log(`FAIL ${t.name}: ${String(e.message ?? e).split('\n')[0]}`);
      if (shared) await shot(shared, `failure-${tests.indexOf(t)}`).catch(() => {});
    }
  }
} catch (e) {
  failed++;
  console.log(`FAIL setup: ${e.message ?? e}`);
} finally {
  await browser?.close().catch(() => {});
  env.proxy?.close();
  for (const c of children) await stopChild(c);
}
for (const n of env.notes) console.log(`note: ${n}`);
console.log(`artifacts: ${path.relative(process.cwd(), ART) || '.'}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed ? 1 : 0;
