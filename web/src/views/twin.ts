// Twin view: one live uPlot chart per measured signal, seeded from history
// (GET .../telemetry?points=600) and appended from the stream; zooming (drag, wheel) and panning
// (shift+drag, shift+wheel, the arrows) re-fetch the visible range downsampled by the server.
// Signals the twin's estimator tracks get the estimate and its ±2σ band overlaid; the estimated
// hidden states (wear) and the anomaly score (NIS per degree of freedom) get charts of their own.
// Annotations are drawn as shaded ranges. Side panels come from the registry.
import uPlot from 'uplot';
import { AnnotationSet } from '../annotations';
import type { Twin, TwinState } from '../api';
import { routeHref, type View } from '../app';
import { h, LiveText, setState } from '../dom';
import { twinPanels, type TwinViewHandle } from '../panels/registry';
import { ANOMALY_PREFIX, format, isAnomalySignal, kindOf, level, signalInfo, type SignalInfo } from '../signals';
import type { TelemetryEvent } from '../stream';

const WINDOWS: [string, number][] = [
  ['5m', 5 * 60e3],
  ['15m', 15 * 60e3],
  ['1h', 3600e3],
  ['6h', 6 * 3600e3],
  ['24h', 24 * 3600e3],
];
const SEED_POINTS = 600;
const EST_COLOR = '#e2e8f0';
const ANN_COLOR = 'rgba(250, 204, 21, 0.13)';
const ANN_EDGE = 'rgba(250, 204, 21, 0.7)';
/** Estimated values without a measured chart: shown as charts of their own. */
const HIDDEN: Record<string, Partial<SignalInfo>> = {
  impeller_wear: { title: 'Impeller wear (estimated)', unit: '', digits: 3, min: 0, max: 1 },
  bearing_wear: { title: 'Bearing wear (estimated)', unit: '', digits: 3, min: 0, max: 1 },
  flow_bias_m3h: { title: 'Flow sensor bias (estimated)', unit: 'm³/h', digits: 2 },
  nis_per_dof: { title: 'Anomaly score (NIS per dof, ≈1 normal)', unit: '', digits: 2, warnHigh: 3, alarmHigh: 6 },
};
const COLORS = ['#38bdf8', '#f59e0b', '#22c55e', '#f472b6', '#a78bfa', '#fb7185', '#2dd4bf', '#facc15'];

interface Chart {
  /** Measured signal ('' for a chart of an estimate only). */
  signal: string;
  /** Estimate name (state or parameter of GET .../state, or 'nis_per_dof'), history 'est.<name>'. */
  est?: string;
  band: boolean;
  /** A quantile band drawn around the measured signal from two series of its own (RUL p5/p95). */
  quantiles?: [string, string];
  info: SignalInfo;
  el: HTMLElement;
  u: uPlot;
  xs: number[]; // seconds
  ys: number[];
  ex: number[]; // estimate: seconds, mean, std (NaN: unknown, the latest std is used)
  ey: number[];
  es: number[];
  qx: [number[], number[]]; // quantile band: lower and upper series (seconds, value)
  qy: [number[], number[]];
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
  for (const s of Object.keys(twin.telemetry)) if (!names.includes(s) && !isAnomalySignal(s)) names.push(s);
  // The per-signal anomaly scores (0..1) come last, after the estimates, in the order of their signals.
  const anomalyNames = ['anomaly', 'anomaly.pca', 'anomaly.nis', ...names.map((s) => ANOMALY_PREFIX + s)].filter(
    (s) => s in twin.telemetry,
  );
  // Signals published with a p5/p95 band (the live RUL: a turbofan's rul_cycles, rul_p5_cycles,
  // rul_p95_cycles; a pump's rul_h, rul_p5_h, rul_p95_h from its wear trend)
  // get one chart with the band; the quantile series have no chart of their own.
  const quantilesOf = new Map<string, [string, string]>();
  for (const s of names) {
    const m = /^(.*)_p5(_[a-z0-9]+)?$/.exec(s);
    if (!m) continue;
    const mid = m[1] + (m[2] ?? '');
    const hi = m[1] + '_p95' + (m[2] ?? '');
    if (names.includes(mid) && names.includes(hi)) quantilesOf.set(mid, [s, hi]);
  }
  const quantileSeries = new Set([...quantilesOf.values()].flat());
  for (let i = names.length - 1; i >= 0; i--) if (quantileSeries.has(names[i])) names.splice(i, 1);
  // A banded prediction (the RUL) is the headline of its twin: first. One the twin has no value
  // of yet (a pump's RUL needs an hour of wear trend) gets no empty chart.
  for (let i = names.length - 1; i >= 0; i--) if (quantilesOf.has(names[i]) && !(names[i] in twin.telemetry)) names.splice(i, 1);
  names.sort((a, b) => Number(quantilesOf.has(b)) - Number(quantilesOf.has(a)));

  // The estimate (pump twins with a bound behavior model): which names it has, their latest std.
  let state: TwinState | undefined;
  if (kindOf(twin.model) === 'pump') state = await ctx.api.state(twin.id).catch(() => undefined);
  const stdOf = (name: string): number => {
    if (!state) return NaN;
    return (state.states[name] ?? state.parameters[name])?.std ?? NaN;
  };
  const annotations = new AnnotationSet(ctx.api, ctx.stream, new Set([twin.id]));
  let annotating: ((signal: string, fromMs: number, toMs: number) => void) | null = null;

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
  const topEl = h('div', { class: 'charts-top' });
  const side = h('aside', { class: 'side' });
  root.append(toolbar, h('div', { class: 'twin-layout' }, h('div', { class: 'charts-col' }, topEl, chartsEl), side));

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

  const specs: { signal: string; est?: string; band: boolean; quantiles?: [string, string]; info: SignalInfo }[] = names.map((signal) => ({
    signal,
    quantiles: quantilesOf.get(signal),
    est: state && state.states[signal] ? signal : undefined,
    band: !!(state && state.states[signal]),
    info: signalInfo(signal, telemetry.find((c) => c.name === signal)),
  }));
  if (state) {
    for (const p of Object.keys(state.parameters)) specs.push({ signal: '', est: p, band: true, info: { ...signalInfo('est.' + p), ...HIDDEN[p], name: 'est.' + p, label: p } as SignalInfo });
    specs.push({ signal: '', est: 'nis_per_dof', band: false, info: { ...signalInfo('est.nis_per_dof'), ...HIDDEN.nis_per_dof, name: 'est.nis_per_dof', label: 'anomaly' } as SignalInfo });
  }
  for (const a of anomalyNames) specs.push({ signal: a, band: false, info: signalInfo(a) });

  specs.forEach(({ signal, est, band, quantiles, info }, i) => {
    const id = signal || 'est.' + est;
    const latest = new LiveText('—');
    const latestEl = h('span', { class: 'chart-latest' }, latest.node, h('span', { class: 'u' }, ' ' + info.unit));
    const plot = h('div', { class: 'plot' });
    const legend = est && signal
      ? h('span', { class: 'est-legend muted', title: 'Estimate (dashed) with its ±2σ band' }, h('i', {}), band ? 'estimate ±2σ' : 'estimate')
      : quantiles
        ? h('span', { class: 'est-legend muted', title: `Band: ${quantiles[0]} to ${quantiles[1]}` }, h('i', {}), 'p5–p95 band')
        : null;
    const el = h('section', { class: `chart panel${signal ? '' : ' chart-est'}`, id: `chart-${id}`, 'data-signal': id, 'data-points': '0', 'data-est-points': '0' }, h('header', {}, h('h2', {}, info.title), h('span', { class: 'muted sig' }, id), legend, h('div', { class: 'spacer' }), latestEl), plot);
    if (focus === id) el.classList.add('focus');
    if (!signal && i > 0 && specs[i - 1].signal) chartsEl.append(h('h3', { class: 'charts-sep' }, 'Estimated hidden states and innovation test'));
    if (isAnomalySignal(signal) && (i === 0 || !isAnomalySignal(specs[i - 1].signal))) {
      chartsEl.append(h('h3', { class: 'charts-sep' }, `Anomaly scores per signal (0–1; the demo alerts at ${signalInfo(signal).alarmHigh})`));
    }
    chartsEl.append(el);
    const color = signal ? COLORS[i % COLORS.length] : '#c084fc';
    const axis = { stroke: '#8b9bb0', grid: { stroke: 'rgba(148,163,184,0.10)', width: 1 }, ticks: { stroke: 'rgba(148,163,184,0.25)', width: 1 } };
    const series: uPlot.Series[] = [{}];
    const bands: uPlot.Band[] = [];
    if (signal) series.push({ label: info.title, stroke: color, width: 1.5, fill: quantiles ? undefined : color + '14', points: { show: false }, spanGaps: !!quantiles });
    if (quantiles) {
      series.push({ label: 'p5', stroke: color + '55', width: 0.5, points: { show: false }, spanGaps: true });
      series.push({ label: 'p95', stroke: color + '55', width: 0.5, points: { show: false }, spanGaps: true });
      bands.push({ series: [3, 2], fill: color + '26' });
    }
    if (est) {
      const k = series.length;
      series.push({ label: 'estimate', stroke: signal ? EST_COLOR : color, width: signal ? 1.2 : 1.5, dash: signal ? [5, 4] : undefined, points: { show: false }, spanGaps: true });
      if (band) {
        series.push({ label: '−2σ', stroke: 'rgba(226,232,240,0.25)', width: 0.5, points: { show: false }, spanGaps: true });
        series.push({ label: '+2σ', stroke: 'rgba(226,232,240,0.25)', width: 0.5, points: { show: false }, spanGaps: true });
        bands.push({ series: [k + 2, k + 1], fill: signal ? 'rgba(226,232,240,0.10)' : 'rgba(192,132,252,0.16)' });
      }
    }
    const opts: uPlot.Options = {
      width: Math.max(300, chartsEl.clientWidth - 24),
      height: signal && !isAnomalySignal(signal) ? 150 : 110,
      legend: { show: false },
      cursor: { sync: { key: syncKey }, drag: { x: true, y: false, setScale: false } },
      scales: isAnomalySignal(signal) ? { x: { time: true }, y: { range: [0, 1] } } : { x: { time: true } },
      axes: [axis, { ...axis, size: 56 }],
      series,
      bands,
      hooks: {
        // Drag-select zooms (or, in annotate mode, picks a range for a note).
        setSelect: [
          (u) => {
            const { left, width } = u.select;
            if (width < 4) return;
            const a = u.posToVal(left, 'x');
            const b = u.posToVal(left + width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (annotating) annotating(id, a * 1e3, b * 1e3);
            else userRange(a * 1e3, b * 1e3);
          },
        ],
        draw: [(u) => drawAnnotations(u, id)],
      },
    };
    const u = new uPlot(opts, series.map(() => []) as unknown as uPlot.AlignedData, plot);
    const chart: Chart = { signal, est, band, quantiles, info, el, u, xs: [], ys: [], ex: [], ey: [], es: [], qx: [[], []], qy: [[], []], dirty: false, latest, latestEl };
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
  function drawAnnotations(u: uPlot, id: string): void {
    const list = annotations.forSignal(twin.id, id);
    if (!list.length) return;
    const c = u.ctx;
    const { top, height, left, width } = u.bbox;
    c.save();
    c.beginPath();
    c.rect(left, top, width, height);
    c.clip();
    c.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    for (const a of list) {
      const x0 = u.valToPos(a.from_ns / 1e9, 'x', true);
      const x1 = Math.max(x0 + 2 * devicePixelRatio, u.valToPos(a.to_ns / 1e9, 'x', true));
      if (x1 < left || x0 > left + width) continue;
      c.fillStyle = ANN_COLOR;
      c.fillRect(x0, top, x1 - x0, height);
      c.fillStyle = ANN_EDGE;
      c.fillRect(x0, top, devicePixelRatio, height);
      c.fillText(a.text.length > 40 ? a.text.slice(0, 39) + '…' : a.text, Math.max(left, x0) + 4 * devicePixelRatio, top + 12 * devicePixelRatio);
    }
    c.restore();
  }

  if (!names.length) chartsEl.append(h('div', { class: 'panel muted' }, 'This twin has no telemetry.'));

  const estTable = (c: Chart): number[][] => {
    if (!c.band) return [c.ex, c.ey];
    const sNow = stdOf(c.est!);
    const lo: number[] = [];
    const hi: number[] = [];
    for (let i = 0; i < c.ey.length; i++) {
      const sd = Number.isFinite(c.es[i]) ? c.es[i] : sNow;
      lo.push(Number.isFinite(sd) ? c.ey[i] - 2 * sd : NaN);
      hi.push(Number.isFinite(sd) ? c.ey[i] + 2 * sd : NaN);
    }
    return [c.ex, c.ey, lo, hi];
  };
  const flush = (c: Chart) => {
    let data: uPlot.AlignedData;
    if (c.signal && c.est) data = uPlot.join([[c.xs, c.ys], estTable(c)] as unknown as uPlot.AlignedData[]);
    else if (c.quantiles) data = uPlot.join([[c.xs, c.ys], [c.qx[0], c.qy[0]], [c.qx[1], c.qy[1]]] as unknown as uPlot.AlignedData[]);
    else if (c.est) data = estTable(c) as unknown as uPlot.AlignedData;
    else data = [c.xs, c.ys];
    c.u.setData(data, false);
    c.el.dataset.estPoints = String(c.ex.length);
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
        const get = async (name: string) => {
          const r = await ctx.api.telemetry(twin.id, name, a, live ? undefined : b, live ? SEED_POINTS : points);
          const xs: number[] = [];
          const ys: number[] = [];
          for (const [ts, v] of r.points) {
            const x = ts / 1e9;
            if (xs.length && x <= xs[xs.length - 1]) continue;
            xs.push(x);
            ys.push(v);
          }
          return [xs, ys];
        };
        try {
          const [m, e, qlo, qhi] = await Promise.all([
            c.signal ? get(c.signal) : undefined,
            c.est ? get('est.' + c.est) : undefined,
            c.quantiles ? get(c.quantiles[0]) : undefined,
            c.quantiles ? get(c.quantiles[1]) : undefined,
          ]);
          if (seq !== fetchSeq) return;
          for (const [k, q] of [qlo, qhi].entries()) {
            if (!q) continue;
            const [qx, qy] = q;
            if (live) {
              const last = qx.length ? qx[qx.length - 1] : -Infinity;
              for (let i = 0; i < c.qx[k].length; i++) if (c.qx[k][i] > last) (qx.push(c.qx[k][i]), qy.push(c.qy[k][i]));
            }
            c.qx[k] = qx;
            c.qy[k] = qy;
          }
          if (m) {
            const [xs, ys] = m;
            if (live) {
              // Keep stream points that arrived while the request was in flight.
              const last = xs.length ? xs[xs.length - 1] : -Infinity;
              for (let i = 0; i < c.xs.length; i++) if (c.xs[i] > last) (xs.push(c.xs[i]), ys.push(c.ys[i]));
            }
            c.xs = xs;
            c.ys = ys;
          }
          if (e) {
            const [ex, ey] = e;
            const es = ex.map(() => NaN);
            if (live) {
              const last = ex.length ? ex[ex.length - 1] : -Infinity;
              for (let i = 0; i < c.ex.length; i++) if (c.ex[i] > last) (ex.push(c.ex[i]), ey.push(c.ey[i]), es.push(c.es[i]));
            }
            c.ex = ex;
            c.ey = ey;
            c.es = es;
          }
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
  const bySignal = new Map(charts.filter((c) => c.signal).map((c) => [c.signal, c]));
  const byQuantile = new Map<string, [Chart, number]>();
  for (const c of charts) if (c.quantiles) c.quantiles.forEach((q, k) => byQuantile.set(q, [c, k]));
  const offEvents = ctx.stream.onEvents((evs: TelemetryEvent[]) => {
    for (const e of evs) {
      if (e.twin !== twin.id) continue;
      const q = byQuantile.get(e.signal);
      if (q) {
        const [qc, k] = q;
        const x = e.ts / 1e9;
        if ((qc.qx[k].length && x <= qc.qx[k][qc.qx[k].length - 1]) || (!mode.live && x * 1e3 > mode.toMs)) continue;
        qc.qx[k].push(x);
        qc.qy[k].push(e.value);
        qc.dirty = true;
        continue;
      }
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
        if (!c.signal) continue;
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
      let edrop = 0;
      while (edrop < c.ex.length && c.ex[edrop] < cutoff) edrop++;
      if (edrop) (c.ex.splice(0, edrop), c.ey.splice(0, edrop), c.es.splice(0, edrop));
      for (let k = 0; k < 2; k++) {
        let qdrop = 0;
        while (qdrop < c.qx[k].length && c.qx[k][qdrop] < cutoff) qdrop++;
        if (qdrop) (c.qx[k].splice(0, qdrop), c.qy[k].splice(0, qdrop));
      }
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
  // The estimate is not streamed: poll GET .../state (mean and std at the estimator's time).
  let estTimer: number | undefined;
  let estStopped = false;
  const pollState = async () => {
    try {
      const st = await ctx.api.state(twin.id);
      if (estStopped) return;
      state = st;
      const x = st.ts / 1e9;
      for (const c of charts) {
        if (!c.est) continue;
        const ev = c.est === 'nis_per_dof' ? { value: st.nis.ewma_per_dof, std: NaN } : (st.states[c.est] ?? st.parameters[c.est]);
        if (!ev) continue;
        if (!c.signal) {
          c.latest.set(format(c.info, ev.value) + (Number.isFinite(ev.std) ? ` ± ${(2 * ev.std).toFixed(c.info.digits)}` : ''));
          setState(c.latestEl, 'lvl-', level(c.info, ev.value));
        }
        if (c.ex.length && x <= c.ex[c.ex.length - 1]) continue;
        if (!mode.live && x * 1e3 > mode.toMs) continue;
        c.ex.push(x);
        c.ey.push(ev.value);
        c.es.push(ev.std);
        c.dirty = true;
      }
      ctx.store.touch([]);
    } catch {
      // No estimate right now (restarting estimator): keep the last one.
    }
    if (!estStopped) estTimer = window.setTimeout(pollState, 2000);
  };
  if (state) void pollState();

  const ro = new ResizeObserver(() => {
    const w = Math.max(300, chartsEl.clientWidth - 24);
    for (const c of charts) if (Math.abs(c.u.width - w) > 2) c.u.setSize({ width: w, height: c.signal ? 150 : 110 });
  });
  ro.observe(chartsEl);
  ctx.stream.subscribe([twin.id], '*');
  updateToolbar();
  await refetch();
  if (focus) document.getElementById(`chart-${focus}`)?.scrollIntoView({ block: 'center' });
  ctx.store.touch([twin.id]);

  // --- annotations and side panels (registry) ---------------------------------------------------
  const offAnn = annotations.onChange(() => {
    for (const c of charts) c.u.redraw(false, false);
  });
  void annotations.load();
  const handle: TwinViewHandle = {
    top: topEl,
    range: visibleRange,
    showRange: (fromMs, toMs) => {
      mode = { live: false, fromMs, toMs };
      updateToolbar();
      applyX(fromMs, toMs);
      void refetch();
    },
    annotations,
    annotateMode: (on, onPick) => {
      annotating = on && onPick ? onPick : null;
      chartsEl.classList.toggle('annotating', !!annotating);
    },
    series: (signal) => {
      const c = bySignal.get(signal);
      return c ? { xs: c.xs, ys: c.ys } : undefined;
    },
  };
  const disposers: (() => void)[] = [];
  for (const p of twinPanels()) {
    if (!p.applies(ctx, twin)) continue;
    const body = h('div', { class: 'panel-body' });
    side.append(h('section', { class: `panel side-panel panel-${p.id}`, id: `panel-${p.id}` }, h('h2', {}, p.title), body));
    disposers.push(p.mount(body, ctx, twin, handle));
  }

  return () => {
    estStopped = true;
    window.clearTimeout(estTimer);
    offAnn();
    annotations.dispose();
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
