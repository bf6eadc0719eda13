// Properties panel: desired/reported properties and relationships of the twin.
import { routeHref } from '../app';
import { h } from '../dom';
import { registerTwinPanel } from './registry';

registerTwinPanel({
  id: 'properties',
  title: 'Twin',
  order: 50,
  applies: () => true,
  mount(el, ctx, twin) {
    const rows: HTMLElement[] = [h('dt', {}, 'model'), h('dd', {}, h('code', {}, twin.model))];
    const props = new Set([...Object.keys(twin.desired ?? {}), ...Object.keys(twin.reported ?? {})]);
    for (const p of props) {
      rows.push(h('dt', {}, p), h('dd', {}, `desired ${JSON.stringify(twin.desired?.[p] ?? '—')} · reported ${JSON.stringify(twin.reported?.[p] ?? '—')}`));
    }
    for (const r of twin.relationships) {
      rows.push(h('dt', {}, r.name), h('dd', {}, h('a', { href: routeHref('/twin/' + encodeURIComponent(r.target)) }, r.target)));
    }
    const inbound = [...ctx.twins.values()].filter((t) => t.relationships.some((r) => r.target === twin.id));
    for (const t of inbound) {
      const r = t.relationships.find((q) => q.target === twin.id)!;
      rows.push(h('dt', {}, `${r.name} by`), h('dd', {}, h('a', { href: routeHref('/twin/' + encodeURIComponent(t.id)) }, t.id)));
    }
    el.append(h('dl', { class: 'props' }, ...rows));
    return () => {};
  },
});
