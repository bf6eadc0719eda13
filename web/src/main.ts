// Entry point: sign-in, then the shell (top bar + routed view). Routes live in the fragment:
//   #/            fleet          #/twin/{id}?signal=S     twin view
//   #/3d[/{station}]             3D station view
import './styles.css';
import 'uplot/dist/uPlot.min.css';
import { AlertBook, SEVERITY_RANK } from './alerts';
import { Api, ApiError, type Severity, type Twin } from './api';
import { parseRoute, routeHref, type AppContext, type View } from './app';
import { forgetToken, identify, storedToken, storeToken, takeFragmentToken } from './auth';
import { h, LiveText, setState } from './dom';
import { Models } from './signals';
import { LatestStore } from './store';
import { Stream } from './stream';
import { alertsView } from './views/alerts';
import { fleetView } from './views/fleet';
import { twinView } from './views/twin';
import './panels/alerts';
import './panels/annotations';
import './panels/commands';
import './panels/health';
import './panels/maintenance';
import './panels/mpcplan';
import './panels/properties';
import './panels/whatif';

const app = document.getElementById('app')!;

const views: Record<string, View> = {
  '': fleetView,
  fleet: fleetView,
  twin: twinView,
  alerts: alertsView,
  '3d': (root, ctx, route) => import('./views/station3d').then((m) => m.station3dView(root, ctx, route)),
};

async function start(): Promise<void> {
  const fromUrl = takeFragmentToken();
  if (fromUrl) storeToken(fromUrl, false);
  const token = fromUrl ?? storedToken();
  if (!token) return signIn();
  const api = new Api(token);
  let who;
  try {
    who = await identify(api);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      forgetToken();
      return signIn('That token was not accepted. Sign in again.');
    }
    return fatal(e);
  }
  const [models, twins] = await Promise.all([api.models(), api.twins()]).catch((e) => {
    fatal(e);
    throw e;
  });
  const stream = new Stream(token);
  const store = new LatestStore();
  const ctx: AppContext = {
    api,
    stream,
    store,
    models: new Models(models),
    who,
    twins: new Map(twins.map((t: Twin) => [t.id, t])),
    alerts: new AlertBook(api, stream),
    navigate: (path, query) => {
      location.hash = routeHref(path, query);
    },
  };
  store.seed(twins);
  stream.onEvents((evs) => store.apply(evs));
  stream.start();
  ctx.alerts.start();
  shell(ctx);
}

function shell(ctx: AppContext): void {
  const main = h('main', { id: 'view' });
  const streamLabel = new LiveText('connecting');
  const streamDot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  const streamEl = h('span', { class: 'stream-state', title: 'Live stream' }, streamDot, streamLabel.node);
  const rate = new LiveText('');
  const nav = h(
    'nav',
    { class: 'topnav' },
    h('a', { href: '#/', 'data-nav': 'fleet' }, 'Fleet'),
    h('a', { href: '#/3d', 'data-nav': '3d' }, '3D station'),
    h('a', { href: '#/alerts', 'data-nav': 'alerts' }, 'Alerts'),
  );
  // Unacknowledged-alert counter, coloured by the worst severity; hidden without alerts.
  const alertCount = new LiveText('');
  const alertBadge = h('a', { class: 'alert-badge', id: 'alert-badge', href: '#/alerts', title: 'Active alerts', hidden: true }, alertCount.node);
  const updateBadge = () => {
    const active = ctx.alerts.active();
    let worst: Severity | undefined;
    for (const a of active) if (!worst || SEVERITY_RANK[a.severity] > SEVERITY_RANK[worst]) worst = a.severity;
    const unacked = active.filter((a) => a.state === 'raised').length;
    alertBadge.hidden = active.length === 0;
    alertCount.set(`${active.length} alert${active.length === 1 ? '' : 's'}${unacked ? ` · ${unacked} new` : ''}`);
    setState(alertBadge, 'sev-', worst ?? 'none');
    alertBadge.dataset.count = String(active.length);
  };
  ctx.alerts.onChange(updateBadge);
  const role = ctx.who.role + (ctx.who.exact ? '' : '+');
  const header = h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: '#/' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Doppel'),
    nav,
    h('div', { class: 'spacer' }),
    alertBadge,
    h('span', { class: 'rate', title: 'Stream events per second' }, rate.node),
    streamEl,
    h('span', { class: `role role-${ctx.who.role}`, 'data-role': ctx.who.role, title: `Signed in as ${ctx.who.name} (${ctx.who.source === 'me' ? 'from /api/v1/me' : 'probed'})` }, role),
    h('button', { class: 'ghost', id: 'sign-out', onclick: () => signOut(ctx) }, 'Sign out'),
  );
  app.replaceChildren(header, main);
  ctx.stream.onState((s) => {
    streamLabel.set(s === 'open' ? 'live' : s);
    setState(streamEl, 'st-', s);
  });
  let lastCount = 0;
  setInterval(() => {
    const n = ctx.stream.received;
    rate.set(`${n - lastCount} ev/s${ctx.stream.dropped ? ` · ${ctx.stream.dropped} dropped` : ''}`);
    lastCount = n;
  }, 1000);

  let dispose: (() => void) | null = null;
  let seq = 0;
  const render = async () => {
    const route = parseRoute(location.hash);
    const name = route.parts[0] ?? '';
    const view = views[name] ?? fleetView;
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.nav === (name || 'fleet'));
    const mine = ++seq;
    dispose?.();
    dispose = null;
    const root = h('div', { class: `view view-${name || 'fleet'}` });
    main.replaceChildren(root);
    try {
      const d = await view(root, ctx, route);
      if (mine !== seq) d();
      else dispose = d;
    } catch (e) {
      root.replaceChildren(h('div', { class: 'panel error' }, `Could not open this view: ${e instanceof Error ? e.message : String(e)}`));
    }
  };
  window.addEventListener('hashchange', render);
  void render();
}

function signOut(ctx: AppContext): void {
  ctx.stream.stop();
  forgetToken();
  location.hash = '#/';
  location.reload();
}

function signIn(message?: string): void {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, placeholder: 'API token', autofocus: true });
  const remember = h('input', { id: 'remember', type: 'checkbox' });
  const err = h('p', { class: 'form-error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    { class: 'signin panel', id: 'signin' },
    h('h1', {}, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Doppel'),
    h('p', { class: 'muted' }, 'Sign in with an API token (see the tokens section of your doppel config, or the URL printed by doppel demo).'),
    h('label', { for: 'token' }, 'Token'),
    input,
    h('label', { class: 'check' }, remember, ' Remember on this device'),
    err,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    err.textContent = 'Checking…';
    try {
      await new Api(token).models();
    } catch (e) {
      err.textContent = e instanceof ApiError && e.status === 401 ? 'That token was not accepted.' : `Cannot sign in: ${String(e)}`;
      return;
    }
    storeToken(token, remember.checked);
    location.reload();
  });
  app.replaceChildren(h('div', { class: 'signin-wrap' }, form));
}

function fatal(e: unknown): void {
  app.replaceChildren(
    h('div', { class: 'signin-wrap' }, h('div', { class: 'panel error' }, h('h1', {}, 'Doppel'), h('p', {}, `The server did not answer as expected: ${e instanceof Error ? e.message : String(e)}`), h('button', { onclick: () => location.reload() }, 'Retry'))),
  );
}

void start();
