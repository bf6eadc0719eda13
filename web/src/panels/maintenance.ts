// Maintenance panel: the twin's enterprise context (GET /api/v1/twins/{id}/context,
// docs/enterprise.md): work orders — planned and in progress first, then the history — and the
// design spec's duty point and limits. Loaded once per view (imports are rare).
import { ApiError, notAvailable, type TwinContext, type WorkOrder } from '../api';
import { fmtDateTime, h } from '../dom';
import { registerTwinPanel } from './registry';

const OPEN = new Set(['planned', 'in_progress']);

function label(w: WorkOrder): string {
  return (w.kind === 'other' && w.kind_text ? w.kind_text : w.kind).replace(/_/g, ' ');
}

function orderRow(w: WorkOrder): HTMLElement {
  const when = w.status === 'completed' && w.completed_ns ? `done ${fmtDateTime(w.completed_ns)}` : `${w.status.replace('_', ' ')} · ${fmtDateTime(w.planned_start_ns)}`;
  return h(
    'li',
    { class: `wo wo-${w.status}`, 'data-wo': w.id },
    h('span', { class: `chip ${OPEN.has(w.status) ? 'warn' : 'ok'}` }, w.id),
    ' ',
    h('strong', {}, label(w)),
    h('div', { class: 'muted small' }, when, w.description ? ` — ${w.description}` : ''),
  );
}

function render(el: HTMLElement, c: TwinContext): void {
  const open = c.workorders.filter((w) => OPEN.has(w.status)).sort((a, b) => a.planned_start_ns - b.planned_start_ns);
  const past = c.workorders.filter((w) => !OPEN.has(w.status)).sort((a, b) => (b.completed_ns ?? b.planned_start_ns) - (a.completed_ns ?? a.planned_start_ns));
  const parts: HTMLElement[] = [];
  parts.push(open.length ? h('ul', { class: 'wo-list', id: 'wo-open' }, ...open.map(orderRow)) : h('div', { class: 'muted small' }, 'No maintenance scheduled.'));
  if (past.length) parts.push(h('div', { class: 'muted small' }, 'History'), h('ul', { class: 'wo-list', id: 'wo-past' }, ...past.slice(0, 8).map(orderRow)));
  if (c.spec) {
    const s = c.spec;
    const rows = [
      ['duty point', `${s.rated_flow_m3h} m³/h at ${s.rated_head_m} m, ${s.rated_power_kw} kW`],
      ...c.limits.map((l) => [l.signal, `${l.min ?? '—'} … ${l.max ?? '—'}${l.command_envelope ? ' (commands)' : ''}`]),
    ];
    parts.push(h('dl', { class: 'props', id: 'spec-limits' }, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  }
  el.replaceChildren(...parts);
}

registerTwinPanel({
  id: 'maintenance',
  title: 'Maintenance',
  order: 40,
  applies: () => true,
  mount(el, ctx, twin) {
    let stopped = false;
    el.append(h('div', { class: 'muted' }, 'Loading…'));
    ctx.api
      .twinContext(twin.id)
      .then((c) => {
        if (!stopped) render(el, c);
      })
      .catch((e) => {
        if (stopped) return;
        const msg = notAvailable(e) ? 'Maintenance: not available on this server.' : `No maintenance data: ${e instanceof ApiError ? e.message : String(e)}`;
        el.replaceChildren(h('div', { class: 'muted na' }, msg));
      });
    return () => {
      stopped = true;
    };
  },
});
