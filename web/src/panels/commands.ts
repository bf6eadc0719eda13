// Command panel: a form per DTDL command of the twin's model (operator role and up), the control
// mode (advisory / approve / auto), pending proposals with Approve / Reject (operator and up), and
// the command history with each command's status, source and audit trail (every role may read it).
import { ApiError, notAvailable, type Command, type ControlMode, type DtdlContent, type Twin } from '../api';
import type { AppContext } from '../app';
import { roleAtLeast } from '../auth';
import { fmtDateTime, fmtTime, h, toast } from '../dom';
import { text } from '../signals';
import { registerTwinPanel } from './registry';

const TERMINAL = new Set(['acked', 'rejected', 'timed_out', 'superseded', 'refused']);
const MODES: [ControlMode, string][] = [
  ['advisory', 'Advisory: proposals are shown, nothing is sent'],
  ['approve', 'Approve: an operator approves each proposal before it is sent'],
  ['auto', 'Auto: proposals are sent at once'],
];
const UNITS: Record<string, string> = { revolutionPerMinute: 'rpm', cubicMetrePerHour: 'm³/h', bar: 'bar', percent: '%', metre: 'm' };

interface Field {
  name: string;
  label: string;
  schema: string;
  unit: string;
}

/** The request fields of a command: an Object schema's fields, or one primitive value. */
function requestFields(cmd: DtdlContent): { fields: Field[]; wrap: 'object' | 'value' | 'none' } {
  const req = cmd.request;
  if (!req) return { fields: [], wrap: 'none' };
  const schema = req.schema as { '@type'?: string; fields?: { name: string; schema: unknown; unit?: string; displayName?: string }[] } | string;
  if (typeof schema === 'string') {
    return { fields: [{ name: req.name, label: text(req.displayName) ?? req.name, schema, unit: '' }], wrap: 'value' };
  }
  if (schema && schema['@type'] === 'Object' && Array.isArray(schema.fields)) {
    return {
      fields: schema.fields.map((f) => ({ name: f.name, label: text(f.displayName as string | undefined) ?? f.name, schema: typeof f.schema === 'string' ? f.schema : 'string', unit: f.unit ? UNITS[f.unit] ?? f.unit : '' })),
      wrap: 'object',
    };
  }
  return { fields: [], wrap: 'none' };
}

function inputFor(twin: Twin, ctx: AppContext, cmd: DtdlContent, f: Field): HTMLInputElement {
  const numeric = ['double', 'float', 'integer', 'long'].includes(f.schema);
  const el = h('input', {
    name: f.name,
    id: `cmd-${cmd.name}-${f.name}`,
    type: f.schema === 'boolean' ? 'checkbox' : numeric ? 'number' : 'text',
    step: numeric ? (f.schema === 'integer' || f.schema === 'long' ? '1' : 'any') : undefined,
    required: f.schema !== 'boolean',
  });
  // Prefill from a signal of the same name (speed_rpm: the current speed).
  const cur = ctx.store.get(twin.id, f.name)?.value;
  if (numeric && cur !== undefined) el.value = String(Math.round(cur));
  return el;
}

function readValue(f: Field, el: HTMLInputElement): unknown {
  if (f.schema === 'boolean') return el.checked;
  if (['double', 'float'].includes(f.schema)) return Number(el.value);
  if (['integer', 'long'].includes(f.schema)) return Math.round(Number(el.value));
  return el.value;
}

function statusBadge(s: string): HTMLElement {
  return h('span', { class: `badge status-${s}`, 'data-status': s }, s.replace('_', ' '));
}

/** The audit trail: `audit` (approval-aware servers) or `history`, as (status, at, who, why). */
function trail(c: Command): { status: string; at: number; who: string; why: string }[] {
  if (Array.isArray(c.audit) && c.audit.length) return c.audit.map((e) => ({ status: e.status, at: e.at_ns, who: e.who, why: e.why ?? '' }));
  return (c.history ?? []).map((e) => ({ status: e.status, at: e.at, who: e.by, why: e.reason }));
}

function commandRow(c: Command, decide: ((c: Command, d: 'approve' | 'reject', btn: HTMLButtonElement) => void) | null): HTMLElement {
  const req = JSON.stringify(c.request ?? {});
  const actions =
    c.status === 'proposed' && decide
      ? h(
          'div',
          { class: 'cmd-actions' },
          h('button', { class: 'primary small approve-btn', 'data-approve': c.id, onclick: (e: Event) => (e.preventDefault(), decide(c, 'approve', e.currentTarget as HTMLButtonElement)) }, 'Approve'),
          h('button', { class: 'small reject-btn', 'data-reject': c.id, onclick: (e: Event) => (e.preventDefault(), decide(c, 'reject', e.currentTarget as HTMLButtonElement)) }, 'Reject'),
        )
      : null;
  return h(
    'details',
    { class: `cmd${c.status === 'proposed' ? ' proposed' : ''}`, 'data-command-id': c.id, 'data-status': c.status },
    h('summary', {}, h('span', { class: 'cmd-time', title: fmtDateTime(c.created) }, fmtTime(c.created)), h('span', { class: 'cmd-name' }, c.name), h('code', { class: 'cmd-req' }, req), c.source ? h('span', { class: `src src-${c.source}`, title: 'source' }, c.source) : null, statusBadge(c.status), actions),
    h(
      'div',
      { class: 'cmd-detail' },
      h('div', { class: 'muted' }, `id ${c.id} · issued by ${c.issued_by}${c.source ? ' via ' + c.source : ''}${c.reason ? ' · ' + c.reason : ''}`),
      h(
        'ol',
        { class: 'audit', 'aria-label': 'Audit trail' },
        ...trail(c).map((e) => h('li', {}, statusBadge(e.status), h('span', { class: 'muted' }, ` ${fmtDateTime(e.at)} by ${e.who}`), e.why ? h('span', {}, ` — ${e.why}`) : null)),
      ),
    ),
  );
}

registerTwinPanel({
  id: 'commands',
  title: 'Commands',
  order: 10,
  applies: (ctx, twin) => ctx.models.commands(twin.model).length > 0,
  mount(el, ctx, twin) {
    const cmds = ctx.models.commands(twin.model);
    const list = h('div', { class: 'cmd-list', id: 'command-history' }, h('div', { class: 'muted' }, 'Loading…'));
    const open = new Set<string>();
    let stopped = false;
    let timer: number | undefined;

    const operator = roleAtLeast(ctx.who, 'operator');
    // Control mode (servers with approvals): a segmented switch for operators, text for viewers.
    const modeBox = h('div', { class: 'control-mode', id: 'control-mode' });
    el.append(modeBox);
    const showMode = (mode: ControlMode) => {
      modeBox.dataset.mode = mode;
      if (!operator) {
        modeBox.replaceChildren(h('span', { class: 'muted' }, 'Control mode: '), h('b', {}, mode));
        return;
      }
      modeBox.replaceChildren(
        h('span', { class: 'muted' }, 'Control mode'),
        h(
          'div',
          { class: 'segs', role: 'group', 'aria-label': 'Control mode' },
          ...MODES.map(([m, title]) =>
            h('button', {
              class: `seg${m === mode ? ' on' : ''}`,
              'data-mode': m,
              title,
              onclick: async () => {
                try {
                  showMode(await ctx.api.setControlMode(twin.id, m));
                } catch (e) {
                  toast(`Control mode: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
                }
              },
            }, m),
          ),
        ),
      );
    };
    ctx.api.controlMode(twin.id).then(showMode, (e) => {
      if (notAvailable(e)) modeBox.replaceChildren(h('span', { class: 'muted small na' }, 'Control mode and approvals: not available on this server.'));
      else modeBox.remove();
    });
    const decide = async (c: Command, d: 'approve' | 'reject', btn: HTMLButtonElement) => {
      btn.disabled = true;
      try {
        const r = await ctx.api.decideCommand(twin.id, c.id, d);
        toast(`${c.name} ${c.id}: ${r.status}`);
      } catch (e) {
        toast(`${d === 'approve' ? 'Approving' : 'Rejecting'} ${c.id} failed: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
      }
      await refresh();
    };

    if (operator) {
      for (const cmd of cmds) {
        const { fields, wrap } = requestFields(cmd);
        const inputs = fields.map((f) => [f, inputFor(twin, ctx, cmd, f)] as const);
        const submit = h('button', { type: 'submit', class: 'primary', 'data-command': cmd.name }, text(cmd.displayName) ?? cmd.name);
        const form = h(
          'form',
          { class: 'command-form', id: `command-form-${cmd.name}`, 'data-command': cmd.name },
          ...inputs.map(([f, input]) => h('label', { class: 'field' }, h('span', {}, f.label + (f.unit ? ` (${f.unit})` : '')), input)),
          submit,
        );
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          let request: unknown = {};
          if (wrap === 'object') request = Object.fromEntries(inputs.map(([f, i]) => [f.name, readValue(f, i)]));
          else if (wrap === 'value' && inputs[0]) request = readValue(inputs[0][0], inputs[0][1]);
          submit.disabled = true;
          try {
            const c = await ctx.api.submitCommand(twin.id, cmd.name, request);
            toast(`${cmd.name} ${c.id}: ${c.status}`);
            await refresh();
          } catch (e) {
            toast(`${cmd.name} failed: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
          } finally {
            submit.disabled = false;
          }
        });
        el.append(form);
      }
    } else {
      el.append(h('p', { class: 'readonly-note muted' }, `Read-only: sending commands needs the operator role (you are ${ctx.who.role}).`));
    }
    el.append(h('h3', {}, 'History'), list);
    list.addEventListener('toggle', (e) => {
      const d = e.target as HTMLDetailsElement;
      if (d.dataset.commandId) (d.open ? open.add(d.dataset.commandId) : open.delete(d.dataset.commandId));
    }, true);

    async function refresh(): Promise<void> {
      window.clearTimeout(timer);
      let pending = false;
      try {
        const all = (await ctx.api.commands(twin.id)).sort((a, b) => b.created - a.created).slice(0, 50);
        if (stopped) return;
        pending = all.some((c) => !TERMINAL.has(c.status) && c.status !== 'proposed');
        const rows = all.map((c) => {
          const r = commandRow(c, operator ? decide : null);
          if (open.has(c.id)) (r as HTMLDetailsElement).open = true;
          return r;
        });
        list.replaceChildren(...(rows.length ? rows : [h('div', { class: 'muted' }, 'No commands yet.')]));
      } catch (e) {
        list.replaceChildren(h('div', { class: 'muted' }, `Cannot load the history: ${e instanceof Error ? e.message : String(e)}`));
      }
      if (!stopped) timer = window.setTimeout(refresh, pending ? 700 : 5000);
    }
    void refresh();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  },
});
