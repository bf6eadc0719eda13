// Annotations panel: the twin's notes (author, time, text, range, signal), newest last, live from
// the stream; a form to add one for a range picked on a chart ("Pick range", then drag across a
// chart) or the last minute; delete for the author and admins. Every role may annotate.
import { ApiError, type Annotation } from '../api';
import type { AppContext } from '../app';
import { roleAtLeast } from '../auth';
import { fmtDateTime, fmtTime, h, toast } from '../dom';
import { registerTwinPanel } from './registry';

function rangeText(a: { from_ns: number; to_ns: number }): string {
  const secs = Math.round((a.to_ns - a.from_ns) / 1e9);
  return `${fmtTime(a.from_ns)} – ${fmtTime(a.to_ns)} (${secs < 120 ? secs + ' s' : Math.round(secs / 60) + ' min'})`;
}

function mayDelete(ctx: AppContext, a: Annotation): boolean {
  return roleAtLeast(ctx.who, 'admin') || a.author === ctx.who.name;
}

registerTwinPanel({
  id: 'annotations',
  title: 'Annotations',
  order: 20,
  applies: () => true,
  mount(el, ctx, twin, view) {
    const set = view.annotations;
    const list = h('ol', { class: 'ann-list', id: 'annotation-list' });
    const text = h('input', { id: 'annotation-text', type: 'text', placeholder: 'Note (e.g. "valve V-3 closed for cleaning")', maxlength: 500, required: true });
    const rangeLabel = h('span', { class: 'muted small', id: 'annotation-range' }, 'range: the last minute');
    const pickBtn = h('button', { type: 'button', class: 'small', id: 'annotation-pick', title: 'Then drag across a chart to select the time range' }, 'Pick range');
    const save = h('button', { type: 'submit', class: 'primary small', id: 'annotation-save' }, 'Add note');
    let picked: { signal: string; fromMs: number; toMs: number } | null = null;
    const form = h('form', { class: 'ann-form', id: 'annotation-form' }, text, h('div', { class: 'ann-form-row' }, rangeLabel, h('div', { class: 'spacer' }), pickBtn, save));
    const setPicking = (on: boolean) => {
      pickBtn.classList.toggle('on', on);
      pickBtn.textContent = on ? 'Drag on a chart…' : 'Pick range';
      view.annotateMode(on, (signal, fromMs, toMs) => {
        picked = { signal, fromMs, toMs };
        rangeLabel.textContent = `${signal}: ${rangeText({ from_ns: fromMs * 1e6, to_ns: toMs * 1e6 })}`;
        setPicking(false);
        text.focus();
      });
    };
    pickBtn.addEventListener('click', () => setPicking(!pickBtn.classList.contains('on')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const t = text.value.trim();
      if (!t) return;
      const now = Date.now();
      const [fromMs, toMs] = picked ? [picked.fromMs, picked.toMs] : [now - 60e3, now];
      save.disabled = true;
      try {
        const a = await ctx.api.createAnnotation(twin.id, {
          text: t,
          // ms resolution is plenty for a note; JSON doubles hold ns since 1970 to ~0.25 µs.
          from_ns: Math.round(fromMs) * 1e6,
          to_ns: Math.round(toMs) * 1e6,
          ...(picked ? { signal: picked.signal } : {}),
        });
        set.put(a);
        text.value = '';
        picked = null;
        rangeLabel.textContent = 'range: the last minute';
      } catch (e) {
        toast(`Saving the note failed: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
      } finally {
        save.disabled = false;
      }
    });

    const row = (a: Annotation) => {
      const del = mayDelete(ctx, a)
        ? h('button', {
            class: 'ghost small ann-del',
            title: 'Delete this note',
            onclick: async (e: Event) => {
              e.stopPropagation();
              try {
                await ctx.api.deleteAnnotation(twin.id, a.id);
                set.remove(a.id);
              } catch (err) {
                toast(`Deleting failed: ${err instanceof ApiError ? err.message : String(err)}`, 'error');
              }
            },
          }, '✕')
        : null;
      const li = h(
        'li',
        { class: 'ann', 'data-annotation-id': a.id, title: 'Show this range on the charts' },
        h('div', { class: 'ann-head' }, h('b', {}, a.author), h('span', { class: 'muted', title: fmtDateTime(a.created_ns) }, ' ' + fmtTime(a.created_ns)), h('div', { class: 'spacer' }), del),
        h('div', { class: 'ann-text' }, a.text),
        h('div', { class: 'muted small' }, rangeText(a), a.signal ? ` · ${a.signal}` : '', a.anchor ? ' · 3D pin' : ''),
      );
      li.addEventListener('click', () => {
        const pad = Math.max(30e3, (a.to_ns - a.from_ns) / 1e6);
        view.showRange(a.from_ns / 1e6 - pad, a.to_ns / 1e6 + pad);
      });
      return li;
    };
    const render = () => {
      if (set.available === false) {
        el.replaceChildren(h('div', { class: 'muted na' }, 'Annotations: not available on this server.'));
        return;
      }
      const items = set.list().filter((a) => a.twin === twin.id);
      list.replaceChildren(...(items.length ? items.map(row) : [h('li', { class: 'muted' }, set.available === undefined ? 'Loading…' : 'No notes yet.')]));
    };
    el.append(form, list);
    render();
    const off = set.onChange(render);
    return () => {
      off();
      view.annotateMode(false);
    };
  },
});
