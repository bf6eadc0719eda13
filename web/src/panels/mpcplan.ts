// MPC plan panel: what the live model predictive controller intends over its horizon
// (GET /api/v1/control/plan every 5 s, docs/control.md). On the tank: the planned level inside
// its band; on a pump: its planned speed, step by step, with the wear the plan assumed. Twins the
// MPC does not control say so; a server without a running MPC says that.
import uPlot from 'uplot';
import { ApiError, notAvailable, type ControlPlan } from '../api';
import { h } from '../dom';
import { kindOf } from '../signals';
import { registerTwinPanel } from './registry';

const REFRESH_MS = 5000;
const AXIS = { stroke: '#8b9bb0', grid: { stroke: 'rgba(148,163,184,0.10)', width: 1 }, ticks: { stroke: 'rgba(148,163,184,0.25)', width: 1 } };

function fmtClock(ns: number): string {
  return new Date(ns / 1e6).toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit' });
}

/** Stepped series: each value held over its step [t_i, t_i + step_s). */
function stepped(startsNs: number[], values: number[], stepS: number): [number[], number[]] {
  const xs: number[] = [];
  const ys: number[] = [];
  values.forEach((v, i) => {
    const t = startsNs[i] / 1e9;
    xs.push(t, t + stepS - 1e-3);
    ys.push(v, v);
  });
  return [xs, ys];
}

function chart(el: HTMLElement, data: uPlot.AlignedData, series: uPlot.Series[], yRange?: [number, number]): uPlot {
  return new uPlot(
    {
      width: Math.max(240, el.clientWidth || 300),
      height: 120,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: yRange ? { range: yRange } : {} },
      axes: [AXIS, { ...AXIS, size: 44 }],
      series: [{}, ...series],
    },
    data,
    el,
  );
}

function render(el: HTMLElement, plan: ControlPlan & { ts: number }, twinId: string): uPlot | undefined {
  const pump = plan.pumps.find((p) => p.twin === twinId);
  const head = h(
    'div',
    { class: 'small' },
    h('span', { class: `chip ${/succeeded|solved|acceptable/i.test(plan.solver_status) ? 'ok' : 'warn'}` }, plan.solver_status),
    ' ',
    h('span', { class: 'muted' }, `planned at ${fmtClock(plan.ts)} · ${Math.round(plan.horizon_s / 3600)} h ahead · ${plan.planned_energy_cost_eur.toFixed(2)} € energy`),
  );
  const plot = h('div', { class: 'plan-plot', id: 'mpc-plan-chart' });
  el.replaceChildren(head, plot);
  if (twinId === plan.tank) {
    const xs = plan.level_ts_ns.map((t) => t / 1e9);
    const lo = xs.map(() => plan.band.min_m);
    const hi = xs.map(() => plan.band.max_m);
    plot.dataset.points = String(xs.length);
    el.append(h('div', { class: 'muted small' }, `level now ${plan.level_m.toFixed(2)} m; band ${plan.band.min_m}–${plan.band.max_m} m`));
    return chart(plot, [xs, plan.planned_level_m, lo, hi], [
      { label: 'planned level', stroke: '#38bdf8', width: 1.5, points: { show: false } },
      { label: 'min', stroke: 'rgba(248,113,113,0.6)', width: 1, dash: [4, 4], points: { show: false } },
      { label: 'max', stroke: 'rgba(248,113,113,0.6)', width: 1, dash: [4, 4], points: { show: false } },
    ]);
  }
  if (!pump) return undefined;
  const [xs, ys] = stepped(plan.step_start_ns, pump.speed_rpm, plan.step_s);
  plot.dataset.points = String(pump.speed_rpm.length);
  const next = pump.speed_rpm[0];
  el.append(
    h(
      'div',
      { class: 'muted small' },
      `next: ${next > 1 ? Math.round(next) + ' rpm' : 'stopped'} · assumed impeller wear ${pump.impeller_wear.toFixed(3)}${pump.wear_source ? ` (${pump.wear_source})` : ''}`,
    ),
  );
  return chart(plot, [xs, ys], [{ label: 'planned speed', stroke: '#f59e0b', width: 1.5, points: { show: false } }], [0, Math.max(1800, ...ys)]);
}

registerTwinPanel({
  id: 'mpc-plan',
  title: 'MPC plan',
  order: 25,
  applies: (_ctx, twin) => ['pump', 'tank'].includes(kindOf(twin.model)),
  mount(el, ctx, twin) {
    el.append(h('div', { class: 'muted' }, 'Loading…'));
    let timer: number | undefined;
    let stopped = false;
    let u: uPlot | undefined;
    let lastTs = -1;
    const load = async () => {
      try {
        const plan = await ctx.api.controlPlan();
        if (stopped) return;
        if (!plan.running || plan.ts === null) {
          u?.destroy();
          u = undefined;
          lastTs = -1;
          el.replaceChildren(h('div', { class: 'muted na' }, plan.running ? 'The MPC has not planned yet.' : 'No MPC runs on this server (control.mpc in the serve config).'));
        } else if (plan.tank !== twin.id && !plan.pumps.some((p) => p.twin === twin.id)) {
          u?.destroy();
          u = undefined;
          el.replaceChildren(h('div', { class: 'muted' }, 'The MPC does not control this twin.'));
        } else if (plan.ts !== lastTs) {
          u?.destroy();
          u = render(el, plan as ControlPlan & { ts: number }, twin.id);
        }
        lastTs = plan.ts ?? -1;
      } catch (e) {
        if (stopped) return;
        u?.destroy();
        u = undefined;
        lastTs = -1;
        const msg = notAvailable(e) ? 'No MPC runs on this server.' : `No plan: ${e instanceof ApiError ? e.message : String(e)}`;
        el.replaceChildren(h('div', { class: 'muted na' }, msg));
      }
      if (!stopped) timer = window.setTimeout(load, REFRESH_MS);
    };
    void load();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      u?.destroy();
    };
  },
});
