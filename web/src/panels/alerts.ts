// Alert rows (shared by the Alerts view and the twin view's side panel) and the twin panel: the
// twin's alerts, live from the alert book, with "Acknowledge" for operators and admins.
import { ApiError, type Alert } from '../api';
import { needsAck } from '../alerts';
import { routeHref, type AppContext } from '../app';
import { roleAtLeast } from '../auth';
import { fmtDateTime, fmtTime, h, toast } from '../dom';
import { registerTwinPanel } from './registry';

export function severityBadge(s: string): HTMLElement {
  return h('span', { class: `badge sev sev-${s}`, 'data-severity': s }, s);
}

export function alertStateBadge(s: string): HTMLElement {
  const label = s === 'cleared_unacknowledged' ? 'cleared · unacked' : s;
  return h('span', { class: `badge astate astate-${s}`, 'data-state': s }, label);
}

async function ack(ctx: AppContext, a: Alert, btn: HTMLButtonElement): Promise<void> {
  btn.disabled = true;
  try {
    const updated = await ctx.api.ackAlert(a.id);
    ctx.alerts.put([updated]);
    toast(`Alert ${a.id} acknowledged`);
  } catch (e) {
    btn.disabled = false;
    toast(`Acknowledging alert ${a.id} failed: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
  }
}

/** One alert as a row; `showTwin` adds the twin link (the fleet-wide list). */
export function alertRow(ctx: AppContext, a: Alert, showTwin: boolean): HTMLElement {
  const when = a.last_raised_ns && a.last_raised_ns !== a.raised_ns ? ` (last ${fmtTime(a.last_raised_ns)})` : '';
  const count = a.count ?? a.occurrences ?? 1;
  const meta: (string | HTMLElement)[] = [h('span', { title: fmtDateTime(a.raised_ns) }, `raised ${fmtTime(a.raised_ns)}${when}`)];
  if (count > 1) meta.push(` · ×${count}`);
  if (a.acked_by) meta.push(` · acked by ${a.acked_by}${a.acked_ns ? ' at ' + fmtTime(a.acked_ns) : ''}`);
  if (a.cleared_ns) meta.push(` · cleared ${fmtTime(a.cleared_ns)}${a.clear_reason ? ' (' + a.clear_reason + ')' : ''}`);
  let action: HTMLElement | null = null;
  if (needsAck(a)) {
    if (roleAtLeast(ctx.who, 'operator')) {
      const btn = h('button', { class: 'small ack-btn', 'data-ack': a.id, title: 'Acknowledge: you have seen it and are on it' }, 'Acknowledge');
      btn.addEventListener('click', (e) => {
        e.preventDefault();
        e.stopPropagation();
        void ack(ctx, a, btn);
      });
      action = btn;
    }
  }
  const signalHref = routeHref('/twin/' + encodeURIComponent(a.twin), a.signal ? { signal: a.signal } : undefined);
  return h(
    'div',
    { class: `alert-row sevrow-${a.severity} st-${a.state}`, 'data-alert-id': a.id, 'data-state': a.state, 'data-twin': a.twin },
    h(
      'div',
      { class: 'alert-head' },
      severityBadge(a.severity),
      showTwin ? h('a', { class: 'alert-twin', href: signalHref }, a.twin) : null,
      h('span', { class: 'alert-rule' }, a.rule),
      a.signal ? h('a', { class: 'alert-signal', href: signalHref }, a.signal) : null,
      h('div', { class: 'spacer' }),
      alertStateBadge(a.state),
      action,
    ),
    h('div', { class: 'alert-reason' }, a.reason),
    h('div', { class: 'alert-meta muted' }, ...meta),
  );
}

registerTwinPanel({
  id: 'alerts',
  title: 'Alerts',
  order: 5,
  applies: () => true,
  mount(el, ctx, twin) {
    const list = h('div', { class: 'alert-list', id: 'twin-alerts' });
    el.append(list);
    const render = () => {
      if (ctx.alerts.available === false) {
        list.replaceChildren(h('div', { class: 'muted na' }, 'Alerts: not available on this server.'));
        return;
      }
      const all = ctx.alerts.list(twin.id);
      // Active and unacknowledged first, then the last few closed ones.
      const open = all.filter((a) => a.state !== 'cleared');
      const closed = all.filter((a) => a.state === 'cleared').slice(0, 5);
      const rows = [...open, ...closed].map((a) => alertRow(ctx, a, false));
      if (!rows.length) rows.push(h('div', { class: 'muted' }, ctx.alerts.available === undefined ? 'Loading…' : 'No alerts for this twin.'));
      list.replaceChildren(...rows);
    };
    render();
    const off = ctx.alerts.onChange((changed) => {
      if (!changed.length || changed.some((a) => a.twin === twin.id)) render();
    });
    return off;
  },
});
