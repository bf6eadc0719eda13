// Twin view: one live uPlot chart per measured signal, seeded from history
// (GET .../telemetry?points=600) and appended from the stream; zooming (drag, wheel) and panning
// (shift+drag, shift+wheel, the arrows) re-fetch the visible range downsampled by the server.
// Side panels (commands, properties, and later estimates/alerts/what-if) come from the registry.
import uPlot from 'uplot';
import type { Twin } from '../api';
import { routeHref, type View } from '../app';
import { h, LiveText, setState } from '../dom';
import { twinPanels } from '../panels/registry';
import { format, level, signalInfo, type SignalInfo } from '../signals';
import type { TelemetryEvent } from '../stream';

const WINDOWS: [string, number][] = [
  ['5m', 5 * 60e3],
  ['15m', 15 * 60e3],
  ['1h', 3600e3],
  ['6h', 6 * 3600e3],
  ['24h', 24 * 3600e3],
];
const SEED_POINTS = 600;
const COLORS = ['#38bdf8', '#f59e0b', '#22c55e', '#f472b6', '#a78bfa', '#fb7185', '#2dd4bf', '#facc15'];

interface Chart {
  signal: string;
  info: SignalInfo;
  el: HTMLElement;
  u: uPlot;
  xs: number[]; // seconds
  ys: number[];
  dirty: boolean;
  latest: LiveText;
  latestEl: HTMLElement;
}

type Mode = { live: true; windowMs: number } | { live: false; fromMs: number; toMs: number };

export const twinView: View = async (root, ctx, route) => {
  const id = route.parts[1] ?? '';
  let twin: Twin;
  try {
    twin = await ctx.api.twin(id);
  } catch (e) {
    root.append(h('div', { class: 'panel error' }, `Twin '${id}' could not be loaded: ${e instanceof Error ? e.message : String(e)}`, ' ', h('a', { href: '#/' }, 'Back to the fleet')));
    return () => {};
  }
  ctx.twins.set(twin.id, twin);
  ctx.store.seed([twin]);
  const focus = route.query.get('signal');
  const telemetry = ctx.models.telemetry(twin.model);
  // Signals: the model's telemetry, plus any the twin has that the model does not list.
  const names = [...telemetry.map((c) => c.name)];
  for (const s of Object.keys(twin.telemetry)) if (!names.includes(s)) names.push(s);

  let mode: Mode = { live: true, windowMs: Number(route.query.get('window')) || 15 * 60e3 };
  const parent = [...ctx.twins.values()].find((t) => t.relationships.some((r) => r.name === 'contains' && r.target === twin.id));

  // --- toolbar ---------------------------------------------------------------------------
  const liveBtn = h('button', { class: 'live-btn', id: 'live', title: 'Follow live data (double-click a chart)' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), 'Live');
  const rangeLabel = new LiveText('');
  const windowBtns = WINDOWS.map(([label, ms]) => {
    const b = h('button', { class: 'seg', 'data-window': label }, label);
    b.addEventListener('click', () => setMode({ live: true, windowMs: ms }));
    return b;
  });
  const pan = (dir: number) => {
    const [a, b] = visibleRange();
    const d = (b - a) * 0.5 * dir;
    setMode({ live: false, fromMs: a + d, toMs: b + d });
  };
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Fleet'), parent ? h('a', { href: routeHref('/twin/' + encodeURIComponent(parent.id)) }, parent.id) : null, h('h1', {}, twin.id)),
    h('span', { class: 'tile-model' }, ctx.models.displayName(twin.model)),
    h('div', { class: 'spacer' }),
    h('span', { class: 'muted range-label' }, rangeLabel.node),
    h('div', { class: 'segs', role: 'group', 'aria-label': 'Time window' }, ...windowBtns),
    h('button', { class: 'seg', title: 'Pan back', onclick: () => pan(-1) }, '◀'),
    h('button', { class: 'seg', title: 'Pan forward', onclick: () => pan(1) }, '▶'),
    liveBtn,
  );
  liveBtn.addEventListener('click', () => setMode({ live: true, windowMs: mode.live ? mode.windowMs : 15 * 60e3 }));

  const chartsEl = h('div', { class: 'charts' });
  const side = h('aside', { class: 'side' });
  root.append(toolbar, h('div', { class: 'twin-layout' }, chartsEl, side));

  // --- charts -------------------------------------------------------------------------------
  const charts: Chart[] = [];
  const syncKey = `twin-${twin.id}-${Math.random().toString(36).slice(2)}`;
  let fetchSeq = 0;
  let fetchTimer: number | undefined;

  const visibleRange = (): [number, number] => {
    if (mode.live) {
      const now = Date.now();
      return [now - mode.windowMs, now];
    }
    return [mode.fromMs, mode.toMs];
  };

  const applyX = (fromMs: number, toMs: number) => {
    for (const c of charts) c.u.setScale('x', { min: fromMs / 1e3, max: toMs / 1e3 });
  };

  const userRange = (fromMs: number, toMs: number) => {
    if (!(toMs > fromMs)) return;
    mode = { live: false, fromMs, toMs };
    applyX(fromMs, toMs);
    updateToolbar();
    window.clearTimeout(fetchTimer);
    fetchTimer = window.setTimeout(() => void refetch(), 150);
  };

  names.forEach((signal, i) => {
    const info = signalInfo(signal, telemetry.find((c) => c.name === signal));
    const latest = new LiveText('—');
    const latestEl = h('span', { class: 'chart-latest' }, latest.node, h('span', { class: 'u' }, ' ' + info.unit));
    const plot = h('div', { class: 'plot' });
    const el = h('section', { class: 'chart panel', id: `chart-${signal}`, 'data-signal': signal, 'data-points': '0' }, h('header', {}, h('h2', {}, info.title), h('span', { class: 'muted sig' }, signal), h('div', { class: 'spacer' }), latestEl), plot);
    if (focus === signal) el.classList.add('focus');
    chartsEl.append(el);
    const color = COLORS[i % COLORS.length];
    const axis = { stroke: '#8b9bb0', grid: { stroke: 'rgba(148,163,184,0.10)', width: 1 }, ticks: { stroke: 'rgba(148,163,184,0.25)', width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(300, chartsEl.clientWidth - 24),
      height: 150,
      legend: { show: false },
      cursor: { sync: { key: syncKey }, drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 56 }],
      series: [{}, { label: info.title, stroke: color, width: 1.5, fill: color + '14', points: { show: false }, spanGaps: false }],
      hooks: {
        // Drag-select zooms: we apply the range ourselves (to every chart) and re-fetch it.
        setSelect: [
          (u) => {
            const { left, width } = u.select;
            if (width < 4) return;
            const a = u.posToVal(left, 'x');
            const b = u.posToVal(left + width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            userRange(a * 1e3, b * 1e3);
          },
        ],
      },
    };
    const u = new uPlot(opts, [[], []], plot);
    const chart: Chart = { signal, info, el, u, xs: [], ys: [], dirty: false, latest, latestEl };
    charts.push(chart);
    // Wheel: zoom around the cursor; shift+wheel (or a horizontal wheel): pan.
    u.over.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const [a, b] = visibleRange();
        const span = b - a;
        if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
          const d = (span * 0.1 * Math.sign(e.deltaX || e.deltaY)) as number;
          userRange(a + d, b + d);
          return;
        }
        const rect = u.over.getBoundingClientRect();
        const f = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
        const k = e.deltaY > 0 ? 1.25 : 0.8;
        const center = a + span * f;
        userRange(center - (center - a) * k, center + (b - center) * k);
      },
      { passive: false },
    );
    // Shift+drag: pan.
    u.over.addEventListener(
      'mousedown',
      (e) => {
        if (!e.shiftKey) return;
        e.stopPropagation();
        e.preventDefault();
        const [a0, b0] = visibleRange();
        const x0 = e.clientX;
        const w = u.over.getBoundingClientRect().width;
        const move = (m: MouseEvent) => {
          const d = ((x0 - m.clientX) / w) * (b0 - a0);
          mode = { live: false, fromMs: a0 + d, toMs: b0 + d };
          applyX(a0 + d, b0 + d);
          updateToolbar();
        };
        const up = () => {
          window.removeEventListener('mousemove', move);
          window.removeEventListener('mouseup', up);
          void refetch();
        };
        window.addEventListener('mousemove', move);
        window.addEventListener('mouseup', up);
      },
      { capture: true },
    );
    u.over.addEventListener('dblclick', (e) => {
      e.stopPropagation();
      setMode({ live: true, windowMs: 15 * 60e3 });
    }, { capture: true });
  });
  if (!names.length) chartsEl.append(h('div', { class: 'panel muted' }, 'This twin has no telemetry.'));

  const flush = (c: Chart) => {
    c.u.setData([c.xs, c.ys], false);
    const [a, b] = visibleRange();
    c.u.setScale('x', { min: a / 1e3, max: b / 1e3 });
    c.el.dataset.points = String(c.xs.length);
    c.dirty = false;
  };

  async function refetch(): Promise<void> {
    const seq = ++fetchSeq;
    const [a, b] = visibleRange();
    const live = mode.live;
    await Promise.all(
      charts.map(async (c) => {
        const points = Math.max(100, Math.min(SEED_POINTS, Math.round(c.u.width)));
        try {
          const r = await ctx.api.telemetry(twin.id, c.signal, a, live ? undefined : b, live ? SEED_POINTS : points);
          if (seq !== fetchSeq) return;
          const xs: number[] = [];
          const ys: number[] = [];
          for (const [ts, v] of r.points) {
            const x = ts / 1e9;
            if (xs.length && x <= xs[xs.length - 1]) continue;
            xs.push(x);
            ys.push(v);
          }
          if (live) {
            // Keep stream points that arrived while the request was in flight.
            const last = xs.length ? xs[xs.length - 1] : -Infinity;
            for (let i = 0; i < c.xs.length; i++) if (c.xs[i] > last) (xs.push(c.xs[i]), ys.push(c.ys[i]));
          }
          c.xs = xs;
          c.ys = ys;
          flush(c);
        } catch (e) {
          c.el.dataset.error = e instanceof Error ? e.message : String(e);
        }
      }),
    );
  }

  function updateToolbar(): void {
    liveBtn.classList.toggle('on', mode.live);
    for (const [i, b] of windowBtns.entries()) b.classList.toggle('on', mode.live && mode.windowMs === WINDOWS[i][1]);
    const [a, b] = visibleRange();
    const f = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });
    if (mode.live) {
      const w = mode.windowMs;
      rangeLabel.set(`last ${WINDOWS.find((x) => x[1] === w)?.[0] ?? Math.round(w / 60e3) + 'm'}`);
    } else {
      rangeLabel.set(`${new Date(a).toLocaleDateString()} ${f(a)} – ${f(b)}`);
    }
  }

  function setMode(m: Mode): void {
    mode = m;
    updateToolbar();
    const [a, b] = visibleRange();
    applyX(a, b);
    void refetch();
  }

  // --- live data ----------------------------------------------------------------------------
  const bySignal = new Map(charts.map((c) => [c.signal, c]));
  const offEvents = ctx.stream.onEvents((evs: TelemetryEvent[]) => {
    for (const e of evs) {
      if (e.twin !== twin.id) continue;
      const c = bySignal.get(e.signal);
      if (!c) continue;
      const x = e.ts / 1e9;
      if (c.xs.length && x <= c.xs[c.xs.length - 1]) continue;
      if (!mode.live && x * 1e3 > mode.toMs) continue; // browsing the past: keep the view still
      c.xs.push(x);
      c.ys.push(e.value);
      c.dirty = true;
    }
  });
  const offFrame = ctx.store.onFrame((dirty) => {
    if (dirty.has(twin.id)) {
      for (const c of charts) {
        const v = ctx.store.get(twin.id, c.signal)?.value;
        c.latest.set(format(c.info, v));
        setState(c.latestEl, 'lvl-', level(c.info, v));
      }
    }
    if (!mode.live) return;
    const cutoff = (Date.now() - mode.windowMs * 1.2) / 1e3;
    for (const c of charts) {
      if (!c.dirty) continue;
      let drop = 0;
      while (drop < c.xs.length && c.xs[drop] < cutoff) drop++;
      if (drop) (c.xs.splice(0, drop), c.ys.splice(0, drop));
      flush(c);
    }
  });
  // Slide the window even when a signal is quiet.
  const slide = window.setInterval(() => {
    if (mode.live) {
      const [a, b] = visibleRange();
      applyX(a, b);
    }
  }, 1000);
  const ro = new ResizeObserver(() => {
    const w = Math.max(300, chartsEl.clientWidth - 24);
    for (const c of charts) if (Math.abs(c.u.width - w) > 2) c.u.setSize({ width: w, height: 150 });
  });
  ro.observe(chartsEl);
  ctx.stream.subscribe([twin.id], '*');
  updateToolbar();
  await refetch();
  if (focus) document.getElementById(`chart-${focus}`)?.scrollIntoView({ block: 'center' });
  ctx.store.touch([twin.id]);

  // --- side panels (registry) ----------------------------------------------------------------
  const disposers: (() => void)[] = [];
  for (const p of twinPanels()) {
    if (!p.applies(ctx, twin)) continue;
    const body = h('div', { class: 'panel-body' });
    side.append(h('section', { class: `panel side-panel panel-${p.id}`, id: `panel-${p.id}` }, h('h2', {}, p.title), body));
    disposers.push(p.mount(body, ctx, twin));
  }

  return () => {
    window.clearInterval(slide);
    window.clearTimeout(fetchTimer);
    fetchSeq++;
    ro.disconnect();
    offEvents();
    offFrame();
    for (const d of disposers) d();
    for (const c of charts) c.u.destroy();
  };
};
