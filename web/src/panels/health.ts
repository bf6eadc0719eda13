// Health panel: the twin's health score (0..100, docs/alerts.md) with the reasons that lowered it
// and the pump KPIs, from GET /api/v1/twins/{id}/health every 10 s.
import { ApiError, notAvailable, type Health } from '../api';
import { h } from '../dom';
import { kindOf } from '../signals';
import { registerTwinPanel } from './registry';

const KPI_LABELS: Record<string, [string, string, (v: number) => string]> = {
  hydraulic_efficiency: ['Hydraulic efficiency', '%', (v) => (v * 100).toFixed(1)],
  wire_to_water_efficiency: ['Wire-to-water efficiency', '%', (v) => (v * 100).toFixed(1)],
  specific_energy_kwh_m3: ['Specific energy', 'kWh/m³', (v) => v.toFixed(3)],
  hydraulic_power_kw: ['Hydraulic power', 'kW', (v) => v.toFixed(1)],
  head_m: ['Head', 'm', (v) => v.toFixed(1)],
  rul_h: ['Remaining useful life', 'h', (v) => v.toFixed(0)],
};

/** good >= 80, fair >= 50, else poor (docs/alerts.md). */
export function healthBand(score: number | null | undefined): 'good' | 'fair' | 'poor' | 'none' {
  if (score === null || score === undefined || !Number.isFinite(score)) return 'none';
  return score >= 80 ? 'good' : score >= 50 ? 'fair' : 'poor';
}

function render(el: HTMLElement, hl: Health): void {
  const band = hl.band ?? healthBand(hl.score);
  const score = hl.score === null ? '—' : hl.score.toFixed(0);
  const gauge = h('div', { class: `health-gauge hb-${band}`, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': hl.score ?? 0 }, h('div', { class: 'fill', style: `width:${Math.max(0, Math.min(100, hl.score ?? 0))}%` }));
  const reasons = hl.reasons.length ? h('ul', { class: 'health-reasons' }, ...hl.reasons.map((r) => h('li', {}, h('span', { class: 'pen' }, `−${r.penalty.toFixed(1)}`), ' ', r.what))) : h('div', { class: 'muted small' }, 'Nothing lowers the score.');
  const kpis = Object.entries(hl.kpis ?? {}).map(([k, v]) => {
    const [label, unit, fmt] = KPI_LABELS[k] ?? [k, '', (x: number) => x.toPrecision(3)];
    return [h('dt', {}, label), h('dd', {}, v === null || v === undefined || !Number.isFinite(v) ? '—' : fmt(v), unit ? h('span', { class: 'u' }, ' ' + unit) : null)];
  });
  el.replaceChildren(
    h('div', { class: 'health-top' }, h('span', { class: `health-score hb-${band}`, id: 'health-score' }, score), h('span', { class: 'muted' }, ` / 100 · ${band}`)),
    gauge,
    reasons,
  );
  if (kpis.length) el.append(h('dl', { class: 'props kpi-list' }, ...kpis.flat()));
}

registerTwinPanel({
  id: 'health',
  title: 'Health',
  order: 3,
  applies: (_ctx, twin) => kindOf(twin.model) === 'pump',
  mount(el, ctx, twin) {
    el.append(h('div', { class: 'muted' }, 'Loading…'));
    let timer: number | undefined;
    let stopped = false;
    const load = async () => {
      try {
        const hl = await ctx.api.health(twin.id);
        if (stopped) return;
        render(el, hl);
      } catch (e) {
        if (stopped) return;
        if (notAvailable(e)) {
          el.replaceChildren(h('div', { class: 'muted na' }, 'Health: not available on this server.'));
          return;
        }
        el.replaceChildren(h('div', { class: 'muted' }, `No health score yet: ${e instanceof ApiError ? e.message : String(e)}`));
      }
      timer = window.setTimeout(load, 10_000);
    };
    void load();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  },
});
