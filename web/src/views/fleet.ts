// Fleet view: every twin as a tile with its key KPIs, grouped by the twin graph (a station and the
// twins it `contains`), updated live. DOM is built once; stream events only mark twins dirty and
// one requestAnimationFrame pass rewrites the changed text nodes (see LatestStore).
import type { Twin } from '../api';
import { routeHref, type AppContext, type View } from '../app';
import { h, LiveText, setState } from '../dom';
import type { Severity } from '../api';
import { healthBand } from '../panels/health';
import { format, KPIS, kindOf, level, signalInfo, type Level, type SignalInfo } from '../signals';
import { Sparkline } from './sparkline';

const STALE_MS = 10_000;
const LEVEL_RANK: Record<Level, number> = { none: 0, ok: 1, warn: 2, alarm: 3 };
const SEV_LEVEL: Record<Severity, Level> = { info: 'ok', warning: 'warn', critical: 'alarm' };
const HEALTH_LEVEL = { good: 'ok', fair: 'warn', poor: 'alarm', none: 'none' } as const;
const HEALTH_POLL_MS = 10_000;

interface KpiCell {
  signal: string;
  info: SignalInfo;
  el: HTMLElement;
  text: LiveText;
}

class Tile {
  readonly el: HTMLAnchorElement;
  private cells: KpiCell[] = [];
  private bar: HTMLElement | null = null;
  private healthEl: HTMLElement;
  private healthText = new LiveText('');
  private alertEl: HTMLElement;
  private alertText = new LiveText('');
  worst: Level = 'none';

  constructor(
    readonly twin: Twin,
    ctx: AppContext,
  ) {
    const kind = kindOf(twin.model);
    const telemetry = ctx.models.telemetry(twin.model);
    const names = KPIS[kind] ?? telemetry.map((c) => c.name).slice(0, 6);
    const dl = h('dl', { class: 'kpis' });
    for (const signal of names) {
      const info = signalInfo(signal, telemetry.find((c) => c.name === signal));
      const text = new LiveText('—');
      const el = h('div', { class: 'kpi', 'data-signal': signal }, h('dt', {}, info.label), h('dd', {}, h('span', { class: 'v' }, text.node), h('span', { class: 'u' }, info.unit)));
      dl.append(el);
      this.cells.push({ signal, info, el, text });
    }
    this.healthEl = h('span', { class: 'chip health-chip', title: 'Health score (0–100)', hidden: true }, this.healthText.node);
    this.alertEl = h('span', { class: 'chip alert-chip', title: 'Active alerts', hidden: true }, this.alertText.node);
    this.el = h(
      'a',
      { class: `tile kind-${kind}`, href: routeHref('/twin/' + encodeURIComponent(twin.id)), 'data-twin': twin.id },
      h('div', { class: 'tile-head' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'tile-id' }, twin.id), this.alertEl, this.healthEl, h('span', { class: 'tile-model' }, ctx.models.displayName(twin.model))),
      dl,
    );
    if (kind === 'tank') {
      this.bar = h('div', { class: 'fill' });
      this.el.append(h('div', { class: 'levelbar', title: 'Tank level' }, this.bar));
    }
  }

  update(ctx: AppContext): void {
    let worst: Level = 'none';
    for (const c of this.cells) {
      const v = ctx.store.get(this.twin.id, c.signal)?.value;
      c.text.set(format(c.info, v));
      const l = level(c.info, v);
      setState(c.el, 'lvl-', l);
      if (LEVEL_RANK[l] > LEVEL_RANK[worst]) worst = l;
      if (this.bar && c.signal === 'level_m' && v !== undefined) {
        this.bar.style.height = `${Math.max(0, Math.min(100, ((v - c.info.min) / (c.info.max - c.info.min)) * 100)).toFixed(1)}%`;
      }
    }
    // Health (from the twin list) and active alerts (live from the alert book) colour the tile too.
    const t = ctx.twins.get(this.twin.id) ?? this.twin;
    const hb = healthBand(t.health);
    this.healthEl.hidden = hb === 'none';
    if (hb !== 'none') {
      this.healthText.set(`♥ ${(t.health as number).toFixed(0)}`);
      setState(this.healthEl, 'hb-', hb);
      this.el.dataset.health = (t.health as number).toFixed(1);
      if (LEVEL_RANK[HEALTH_LEVEL[hb]] > LEVEL_RANK[worst]) worst = HEALTH_LEVEL[hb];
    }
    const book = ctx.alerts.available === true;
    const n = book ? ctx.alerts.active(this.twin.id).length : t.alerts_active ?? 0;
    const sev: Severity | undefined = book ? ctx.alerts.worst(this.twin.id) : n ? 'warning' : undefined;
    this.alertEl.hidden = n === 0;
    this.el.dataset.alerts = String(n);
    if (n) {
      this.alertText.set(`⚠ ${n}`);
      setState(this.alertEl, 'sev-', sev ?? 'warning');
      const l = SEV_LEVEL[sev ?? 'warning'];
      if (LEVEL_RANK[l] > LEVEL_RANK[worst]) worst = l;
    }
    this.worst = worst;
    setState(this.el, 'lvl-', worst);
  }
}

interface Group {
  id: string;
  title: string;
  station?: Twin;
  members: Twin[];
  tiles: Tile[];
  el: HTMLElement;
  agg: { flow: LiveText; power: LiveText; running: LiveText; level: LiveText };
  spark: Sparkline;
}

/** Runs `fn` over items with at most `n` in flight. */
async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

export const fleetView: View = async (root, ctx) => {
  root.append(h('div', { class: 'loading' }, 'Loading the fleet…'));
  // Fresh list (twins may have been provisioned since sign-in) and the graph.
  const twins = await ctx.api.twins();
  for (const t of twins) ctx.twins.set(t.id, t);
  ctx.store.seed(twins);
  const stations = twins.filter((t) => t.relationships.some((r) => r.name === 'contains'));
  const contained = await pool(stations, 8, (s) => ctx.api.twins({ related: s.id, rel: 'contains' }));

  const groups: Group[] = [];
  const placed = new Set<string>();
  stations.forEach((s, i) => {
    placed.add(s.id);
    const members = contained[i].filter((t) => !stations.includes(t));
    for (const m of members) placed.add(m.id);
    groups.push(makeGroup(ctx, s.id, s.id, members, s));
  });
  const rest = twins.filter((t) => !placed.has(t.id)).sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  if (rest.length) groups.push(makeGroup(ctx, '_other', stations.length ? 'Not in a station' : 'Twins', rest));

  // Toolbar: counts, filter, alarms-only.
  const filter = h('input', { type: 'search', id: 'fleet-filter', placeholder: 'Filter twins…', 'aria-label': 'Filter twins' });
  const alarmsOnly = h('input', { type: 'checkbox', id: 'alarms-only' });
  const counts = new LiveText('');
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h('h1', {}, 'Fleet'),
    h('span', { class: 'muted' }, counts.node),
    h('div', { class: 'spacer' }),
    filter,
    h('label', { class: 'check' }, alarmsOnly, ' Warnings only'),
  );
  const body = h('div', { class: 'groups' }, ...groups.map((g) => g.el));
  if (!twins.length) body.append(h('div', { class: 'panel muted' }, 'No twins yet. They appear when devices send telemetry (auto-provisioning) or are created with POST /api/v1/twins.'));
  root.replaceChildren(toolbar, body);

  const tiles = new Map<string, Tile>();
  for (const g of groups) for (const t of g.tiles) tiles.set(t.twin.id, t);
  const pumps = twins.filter((t) => kindOf(t.model) === 'pump').length;
  counts.set(`${twins.length} twins · ${pumps} pumps · ${groups.length} group${groups.length === 1 ? '' : 's'}`);

  const applyFilter = () => {
    const q = filter.value.trim().toLowerCase();
    const onlyBad = alarmsOnly.checked;
    for (const t of tiles.values()) {
      const show = (!q || t.twin.id.toLowerCase().includes(q)) && (!onlyBad || LEVEL_RANK[t.worst] >= LEVEL_RANK.warn);
      t.el.hidden = !show;
    }
  };
  filter.addEventListener('input', applyFilter);
  alarmsOnly.addEventListener('change', applyFilter);

  // Live: one batched pass per animation frame over the twins that changed.
  const offFrame = ctx.store.onFrame((dirty) => {
    for (const id of dirty) tiles.get(id)?.update(ctx);
    if (alarmsOnly.checked) applyFilter();
  });
  for (const t of tiles.values()) t.update(ctx);
  // Alerts change tiles between stream frames: re-render the twins they belong to.
  const offAlerts = ctx.alerts.onChange((changed) => {
    for (const t of changed.length ? changed.map((a) => tiles.get(a.twin)).filter((x) => x) : tiles.values()) t!.update(ctx);
  });
  // Health scores come with the twin list (servers with health): refresh it every 10 s.
  let healthTimer: number | undefined;
  const hasHealth = twins.some((t) => 'health' in t || 'alerts_active' in t);
  const pollHealth = async () => {
    try {
      const fresh = await ctx.api.twins();
      for (const t of fresh) ctx.twins.set(t.id, t);
      for (const t of tiles.values()) t.update(ctx);
    } catch {
      // transient: try again next time
    }
    healthTimer = window.setTimeout(pollHealth, HEALTH_POLL_MS);
  };
  if (hasHealth) healthTimer = window.setTimeout(pollHealth, HEALTH_POLL_MS);
  const signals = [...new Set(Object.values(KPIS).flat())];
  ctx.stream.subscribe('*', signals);

  // Once a second: staleness, group aggregates and sparklines.
  const tick = () => {
    const now = Date.now();
    for (const t of tiles.values()) {
      // Fresh: an event from the stream lately, or (before the first one) a recent timestamp.
      let seen = ctx.store.lastSeen.get(t.twin.id) ?? -Infinity;
      for (const v of ctx.store.signalsOf(t.twin.id)?.values() ?? []) seen = Math.max(seen, v.ts / 1e6);
      t.el.classList.toggle('stale', now - seen > STALE_MS);
    }
    for (const g of groups) updateGroup(ctx, g);
  };
  tick();
  const timer = window.setInterval(tick, 1000);
  return () => {
    window.clearInterval(timer);
    window.clearTimeout(healthTimer);
    offAlerts();
    offFrame();
  };
};

function makeGroup(ctx: AppContext, id: string, title: string, members: Twin[], station?: Twin): Group {
  members = [...members].sort((a, b) => {
    const ka = kindOf(a.model) === 'pump' ? 0 : 1;
    const kb = kindOf(b.model) === 'pump' ? 0 : 1;
    return ka - kb || a.id.localeCompare(b.id, undefined, { numeric: true });
  });
  const tiles = members.map((t) => new Tile(t, ctx));
  const agg = { flow: new LiveText('—'), power: new LiveText('—'), running: new LiveText('—'), level: new LiveText('—') };
  const spark = new Sparkline(240, 44, [
    { label: 'total flow', color: '#38bdf8' },
    { label: 'demand', color: '#a78bfa' },
  ]);
  const stat = (label: string, t: LiveText, unit: string) => h('span', { class: 'stat' }, h('span', { class: 'muted' }, label + ' '), h('b', {}, t.node), unit ? h('span', { class: 'u' }, ' ' + unit) : null);
  const head = h(
    'div',
    { class: 'group-head' },
    h('div', { class: 'group-title' }, station ? h('a', { href: routeHref('/twin/' + encodeURIComponent(station.id)) }, title) : h('span', {}, title), station ? h('span', { class: 'tile-model' }, ctx.models.displayName(station.model)) : null, station ? h('a', { class: 'small', href: routeHref('/3d/' + encodeURIComponent(station.id)) }, '3D') : null),
    h('div', { class: 'group-stats' }, stat('Flow', agg.flow, 'm³/h'), stat('Power', agg.power, 'kW'), stat('Running', agg.running, ''), stat('Tank', agg.level, 'm')),
    h('div', { class: 'group-spark', title: 'Total pump flow (blue) and demand (violet), last 5 minutes' }, spark.canvas),
  );
  const grid = h('div', { class: 'tiles' }, ...tiles.map((t) => t.el));
  const el = h('section', { class: 'group', 'data-group': id }, head, grid);
  return { id, title, station, members, tiles, el, agg, spark };
}

function updateGroup(ctx: AppContext, g: Group): void {
  let flow = 0;
  let power = 0;
  let running = 0;
  let pumps = 0;
  let level: number | undefined;
  let demand: number | undefined;
  for (const t of g.members) {
    const kind = kindOf(t.model);
    if (kind === 'pump') {
      pumps++;
      flow += ctx.store.get(t.id, 'flow_m3h')?.value ?? 0;
      power += ctx.store.get(t.id, 'power_kw')?.value ?? 0;
      if ((ctx.store.get(t.id, 'speed_rpm')?.value ?? 0) > 100) running++;
    } else if (kind === 'tank') {
      level = ctx.store.get(t.id, 'level_m')?.value ?? level;
      demand = ctx.store.get(t.id, 'demand_m3h')?.value ?? demand;
    }
  }
  g.agg.flow.set(pumps ? flow.toFixed(0) : '—');
  g.agg.power.set(pumps ? power.toFixed(1) : '—');
  g.agg.running.set(pumps ? `${running}/${pumps}` : '—');
  g.agg.level.set(level === undefined ? '—' : level.toFixed(2));
  g.spark.push([pumps ? flow : NaN, demand ?? NaN]);
}
