// Alerts view (#/alerts): every alert of the fleet, newest first, live from the alert book
// (stream pushes + polling), filtered by state, severity and twin. Operators acknowledge here.
import { isActive, needsAck } from '../alerts';
import type { View } from '../app';
import { h, LiveText } from '../dom';
import { alertRow } from '../panels/alerts';
import { KPIS } from '../signals';

const MAX_ROWS = 300;

export const alertsView: View = (root, ctx, route) => {
  const stateSel = h(
    'select',
    { id: 'alert-state', 'aria-label': 'State' },
    h('option', { value: 'active' }, 'Active'),
    h('option', { value: 'unacked' }, 'Needs acknowledgement'),
    h('option', { value: 'all' }, 'All'),
  );
  const sevSel = h('select', { id: 'alert-severity', 'aria-label': 'Severity' }, h('option', { value: '' }, 'Any severity'), h('option', { value: 'warning' }, 'Warning and up'), h('option', { value: 'critical' }, 'Critical'));
  const twinFilter = h('input', { type: 'search', id: 'alert-twin', placeholder: 'Twin…', 'aria-label': 'Twin filter', value: route.query.get('twin') ?? '' });
  const counts = new LiveText('');
  const list = h('div', { class: 'alert-list alerts-page', id: 'alert-list' });
  root.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Alerts'), h('span', { class: 'muted' }, counts.node), h('div', { class: 'spacer' }), twinFilter, stateSel, sevSel, h('button', { onclick: () => void ctx.alerts.refresh() }, 'Refresh')),
    list,
  );
  if (route.query.get('state')) stateSel.value = route.query.get('state')!;

  const render = () => {
    if (ctx.alerts.available === false) {
      list.replaceChildren(h('div', { class: 'panel muted na' }, 'Alerts are not available on this server (no /api/v1/alerts).'));
      counts.set('');
      return;
    }
    const q = twinFilter.value.trim().toLowerCase();
    const st = stateSel.value;
    const minSev = sevSel.value;
    const all = ctx.alerts.list();
    const shown = all.filter((a) => {
      if (q && !a.twin.toLowerCase().includes(q)) return false;
      if (st === 'active' && !isActive(a)) return false;
      if (st === 'unacked' && !needsAck(a)) return false;
      if (minSev === 'critical' && a.severity !== 'critical') return false;
      if (minSev === 'warning' && a.severity === 'info') return false;
      return true;
    });
    const active = all.filter(isActive).length;
    const unacked = all.filter(needsAck).length;
    counts.set(`${active} active · ${unacked} to acknowledge · ${all.length} known${ctx.alerts.error ? ' · ' + ctx.alerts.error : ''}`);
    const rows = shown.slice(0, MAX_ROWS).map((a) => alertRow(ctx, a, true));
    if (!rows.length) rows.push(h('div', { class: 'panel muted' }, ctx.alerts.available === undefined ? 'Loading…' : 'No alerts match.'));
    list.replaceChildren(...rows);
  };
  for (const el of [stateSel, sevSel]) el.addEventListener('change', render);
  twinFilter.addEventListener('input', render);
  const off = ctx.alerts.onChange(render);
  render();
  // Pushes are filtered by the subscription's twins: all of them, with only the tile signals.
  ctx.stream.subscribe('*', [...new Set(Object.values(KPIS).flat())]);
  return () => {
    off();
  };
};
