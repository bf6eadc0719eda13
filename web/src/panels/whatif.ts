// What-if panel (operator and up): change the speed setpoint, the tank level or a wear parameter,
// run it as a background job (POST .../whatif/jobs, polled for progress, cancellable), and see
// the predicted p5–p95 band and median of the chosen output drawn above the charts, after the
// recent measurements, next to the baseline (same draws, no changes).
import uPlot from 'uplot';
import { ApiError, type Band, type WhatIfAnswer, type WhatIfJob, type WhatIfOverrides, type WhatIfRequest } from '../api';
import { roleAtLeast } from '../auth';
import { h, toast } from '../dom';
import { kindOf, signalInfo } from '../signals';
import { registerTwinPanel, type TwinViewHandle } from './registry';

const BASE = { stroke: '#94a3b8', fill: 'rgba(148,163,184,0.18)' };
const WHAT = { stroke: '#f59e0b', fill: 'rgba(245,158,11,0.22)' };
const WORK_LIMIT = 2e7; // samples × scenarios × RK4 steps per request (docs/api.md)
const POLL_MS = 250;
const MAX_POLL_FAILURES = 5; // consecutive failed polls before the panel gives up (and cancels)

function numberField(id: string, label: string, attrs: Record<string, string | number>): [HTMLElement, HTMLInputElement] {
  const input = h('input', { id, type: 'number', step: 'any', ...attrs });
  return [h('label', { class: 'field' }, h('span', {}, label), input), input];
}

/** Draws the answer into the view's top area; returns the chart (destroyed by the next run). */
function drawPrediction(view: TwinViewHandle, ans: WhatIfAnswer, signal: string, changed: boolean): uPlot {
  const t0 = ans.from / 1e9;
  const xsF = ans.t.map((t) => t0 + t);
  const horizon = ans.t[ans.t.length - 1] ?? 0;
  const base: Band | undefined = ans.scenarios ? ans.scenarios.find((s) => s.name === 'baseline')?.outputs[signal] : ans.outputs?.[signal];
  const what: Band | undefined = ans.scenarios?.find((s) => s.name === 'what-if')?.outputs[signal];
  // Recent measurements (as long back as the horizon, at least 2 min) for context.
  const hist = view.series(signal);
  const back = Math.max(120, horizon);
  const hx: number[] = [];
  const hy: number[] = [];
  if (hist) for (let i = 0; i < hist.xs.length; i++) if (hist.xs[i] >= t0 - back && hist.xs[i] <= t0) (hx.push(hist.xs[i]), hy.push(hist.ys[i]));
  const tables: number[][][] = [[hx, hy]];
  const series: uPlot.Series[] = [{}, { label: 'measured', stroke: '#38bdf8', width: 1.5, points: { show: false } }];
  const bands: uPlot.Band[] = [];
  const addBand = (b: Band, c: typeof BASE, name: string) => {
    const k = series.length;
    tables.push([xsF, b.p5, b.p50, b.p95]);
    series.push({ label: `${name} p5`, stroke: c.stroke + '66', width: 0.5, points: { show: false } });
    series.push({ label: `${name} p50`, stroke: c.stroke, width: 1.6, dash: name === 'baseline' && changed ? [5, 4] : undefined, points: { show: false } });
    series.push({ label: `${name} p95`, stroke: c.stroke + '66', width: 0.5, points: { show: false } });
    bands.push({ series: [k + 2, k], fill: c.fill });
  };
  if (base) addBand(base, BASE, 'baseline');
  if (what) addBand(what, WHAT, 'what-if');
  const info = signalInfo(signal);
  const el = h('div', { class: 'plot' });
  const legend = h(
    'div',
    { class: 'wi-legend' },
    h('span', {}, h('i', { style: 'background:#38bdf8' }), 'measured'),
    base ? h('span', {}, h('i', { style: `background:${BASE.stroke}` }), changed ? 'baseline p5–p95' : 'prediction p5–p95') : null,
    what ? h('span', {}, h('i', { style: `background:${WHAT.stroke}` }), 'what-if p5–p95') : null,
    h('span', { class: 'muted' }, `${ans.samples} samples · ${ans.wall_s.toFixed(3)} s`),
  );
  const section = h(
    'section',
    { class: 'chart panel whatif-chart', id: 'whatif-chart', 'data-signal': signal, 'data-bands': bands.length, 'data-points': xsF.length },
    h('header', {}, h('h2', {}, `Prediction: ${info.title}`), h('span', { class: 'muted sig' }, `next ${Math.round(horizon / 60)} min`), h('div', { class: 'spacer' }), legend, h('button', { class: 'ghost small', title: 'Close', onclick: () => (u.destroy(), section.remove()) }, '✕')),
    el,
  );
  view.top.replaceChildren(section);
  const axis = { stroke: '#8b9bb0', grid: { stroke: 'rgba(148,163,184,0.10)', width: 1 }, ticks: { stroke: 'rgba(148,163,184,0.25)', width: 1 } };
  const u: uPlot = new uPlot(
    {
      width: Math.max(300, view.top.clientWidth - 24),
      height: 190,
      legend: { show: false },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 56 }],
      series: series.map((s, i) => (i === 0 ? s : { ...s, spanGaps: true })),
      bands,
      hooks: {
        // A vertical line at the start of the prediction.
        draw: [
          (uu) => {
            const x = uu.valToPos(t0, 'x', true);
            const c = uu.ctx;
            c.save();
            c.strokeStyle = 'rgba(226,232,240,0.5)';
            c.setLineDash([3, 3]);
            c.beginPath();
            c.moveTo(x, uu.bbox.top);
            c.lineTo(x, uu.bbox.top + uu.bbox.height);
            c.stroke();
            c.restore();
          },
        ],
      },
    },
    uPlot.join(tables as unknown as uPlot.AlignedData[]),
    el,
  );
  return u;
}

registerTwinPanel({
  id: 'whatif',
  title: 'What-if',
  order: 15,
  applies: (_ctx, twin) => kindOf(twin.model) === 'pump',
  mount(el, ctx, twin, view) {
    if (!roleAtLeast(ctx.who, 'operator')) {
      el.append(h('p', { class: 'ro-note muted' }, `Read-only: running what-ifs needs the operator role (you are ${ctx.who.role}).`));
      return () => {};
    }
    const speed = ctx.store.get(twin.id, 'speed_rpm')?.value;
    const [fHorizon, horizon] = numberField('wi-horizon', 'Horizon (min)', { value: 10, min: 0.5, max: 10080 });
    const [fSpeed, speedIn] = numberField('wi-speed', 'Speed setpoint (rpm)', { placeholder: speed !== undefined ? String(Math.round(speed)) : 'as now' });
    const [fWear, wearIn] = numberField('wi-wear', 'Impeller wear (0–1)', { placeholder: 'estimated', min: 0, max: 1 });
    const [fLevel, levelIn] = numberField('wi-level', 'Tank level (m)', { placeholder: 'as now', min: 0 });
    const outputs = ['flow_m3h', 'discharge_pressure_bar', 'power_kw', 'motor_temp_c', 'vibration_mm_s', 'speed_rpm'];
    const out = h('select', { id: 'wi-output', 'aria-label': 'Output' }, ...outputs.map((o) => h('option', { value: o }, signalInfo(o).title)));
    const run = h('button', { type: 'submit', class: 'primary', id: 'wi-run' }, 'Run what-if');
    const cancel = h('button', { type: 'button', class: 'ghost', id: 'wi-cancel', hidden: true }, 'Cancel');
    const progress = h('progress', { id: 'wi-progress', max: 1, value: 0, hidden: true });
    const status = h('div', { class: 'muted small', id: 'wi-status' });
    const form = h('form', { class: 'wi-form', id: 'whatif-form' }, fHorizon, fSpeed, fWear, fLevel, h('label', { class: 'field' }, h('span', {}, 'Show'), out), run, cancel);
    el.append(form, h('div', { class: 'wi-progress' }, progress, status));
    let last: WhatIfAnswer | null = null;
    let lastChanged = false;
    let chart: uPlot | null = null;
    let jobId: string | null = null; // the running job, once the server has accepted it
    let cancelWanted = false; // Cancel was clicked during the current run
    let unmounted = false;
    const redraw = () => {
      if (!last) return;
      chart?.destroy();
      chart = drawPrediction(view, last, out.value, lastChanged);
    };
    const setRunning = (on: boolean) => {
      run.disabled = on;
      cancel.hidden = !on;
      cancel.disabled = false;
      progress.hidden = !on;
    };
    const sendCancel = (id: string) =>
      ctx.api.cancelWhatIf(id).catch((e) => {
        if (unmounted) return;
        cancelWanted = false;
        cancel.disabled = false;
        toast(`Cancel failed: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
      });
    out.addEventListener('change', redraw);
    cancel.addEventListener('click', () => {
      cancelWanted = true;
      cancel.disabled = true;
      status.textContent = 'Cancelling…';
      // Before the server has answered the POST there is no job yet: the submit handler sends
      // the cancel as soon as it has the id. The poll below sees the job end as cancelled.
      if (jobId) void sendCancel(jobId);
    });
    /** Polls the job every POLL_MS until it ends (or the view is left), moving the progress bar.
     * Null: it had finished just before the cancel's DELETE, which forgot it (204). */
    const pollUntilFinished = async (first: WhatIfJob): Promise<WhatIfJob | null> => {
      let job = first;
      let failures = 0;
      while (!unmounted && (job.state === 'queued' || job.state === 'running')) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if (unmounted) break;
        try {
          job = await ctx.api.whatIfJob(job.id);
          failures = 0;
        } catch (e) {
          if (cancelWanted && e instanceof ApiError && e.status === 404) return null;
          if (++failures < MAX_POLL_FAILURES) continue;
          void ctx.api.cancelWhatIf(job.id).catch(() => {}); // do not leave it running unseen
          throw e;
        }
        progress.value = job.progress;
        if (!cancelWanted) status.textContent = job.state === 'queued' ? 'Queued…' : `Running… ${Math.round(job.progress * 100)} %`;
      }
      return job;
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const val = (i: HTMLInputElement) => (i.value.trim() === '' ? undefined : Number(i.value));
      const [speedV, levelV, wearV] = [val(speedIn), val(levelIn), val(wearIn)];
      const overrides: WhatIfOverrides = {};
      if (speedV !== undefined) (overrides.inputs ??= {}).speed_rpm = speedV;
      if (levelV !== undefined) (overrides.inputs ??= {}).level_m = levelV;
      if (wearV !== undefined) (overrides.params ??= {}).impeller_wear = wearV;
      const changed = Object.keys(overrides).length > 0;
      const horizon_s = Math.round((val(horizon) ?? 10) * 60);
      // The server allows 2·10⁷ RK4 steps (at most 1 s each) per request, counted as it does
      // (grid steps × substeps): long horizons draw fewer samples.
      const step_s = Math.max(1, Math.ceil(horizon_s / 600));
      const rk4Steps = Math.ceil(horizon_s / step_s) * step_s;
      const scenarios = changed ? 2 : 1;
      const samples = Math.max(1, Math.min(50, Math.floor(WORK_LIMIT / (rk4Steps * scenarios))));
      const req: WhatIfRequest = { horizon_s, step_s, samples, budget_s: 60 };
      if (changed) req.scenarios = [{ name: 'baseline' }, { name: 'what-if', overrides }];
      cancelWanted = false;
      setRunning(true);
      progress.value = 0;
      status.textContent = 'Queued…';
      try {
        const started = await ctx.api.startWhatIf(twin.id, req);
        jobId = started.id;
        // Cancel clicked, or the view left, while the POST was on its way.
        if (cancelWanted || unmounted) void sendCancel(started.id);
        const job = await pollUntilFinished(started);
        if (unmounted) return;
        if (job === null) {
          status.textContent = 'Cancelled: the what-if had just finished, its result is discarded.';
        } else if (job.state === 'done' && job.result) {
          last = job.result;
          lastChanged = changed;
          status.textContent = `${changed ? 'What-if vs baseline' : 'Baseline prediction'} over ${Math.round(horizon_s / 60)} min: ${last.samples} samples, ${last.wall_s.toFixed(3)} s on the server.`;
          redraw();
        } else if (job.state === 'cancelled') {
          status.textContent = `Cancelled at ${Math.round(job.progress * 100)} %.`;
        } else {
          status.textContent = '';
          toast(`What-if failed: ${job.error?.message ?? job.state}`, 'error');
        }
      } catch (e) {
        if (unmounted) return;
        status.textContent = '';
        toast(`What-if failed: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
      } finally {
        jobId = null;
        if (!unmounted) setRunning(false);
      }
    });
    return () => {
      unmounted = true;
      // Nobody will see the answer: stop the server's work too (a POST still on its way is
      // cancelled by the submit handler when it returns).
      if (jobId) void ctx.api.cancelWhatIf(jobId).catch(() => {});
      chart?.destroy();
      view.top.replaceChildren();
    };
  },
});
