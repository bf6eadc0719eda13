// Tiny DOM helpers: no framework, the views build their DOM once and update text nodes in place.

type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** A text node whose content is only written when it changes. */
export class LiveText {
  readonly node = document.createTextNode('');
  private cur = '';
  constructor(initial = '') {
    this.set(initial);
  }
  set(s: string): void {
    if (s !== this.cur) {
      this.cur = s;
      this.node.data = s;
    }
  }
}

/** Sets a class that represents one of several states (e.g. lvl-ok / lvl-warn), only on change. */
export function setState(el: HTMLElement, prefix: string, state: string): void {
  const key = `__${prefix}`;
  const rec = el as unknown as Record<string, string | undefined>;
  if (rec[key] === state) return;
  if (rec[key]) el.classList.remove(prefix + rec[key]);
  el.classList.add(prefix + state);
  rec[key] = state;
}

export function fmtTime(ns: number): string {
  const d = new Date(ns / 1e6);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0').slice(0, 1);
}

export function fmtDateTime(ns: number): string {
  const d = new Date(ns / 1e6);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], { hour12: false })}`;
}

export function toast(message: string, kind: 'info' | 'error' = 'info'): void {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const t = h('div', { class: `toast toast-${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}
