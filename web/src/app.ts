// What every view gets: the API client, the stream, the latest-value store, the model catalogue,
// who is signed in, and the twin list.
import type { AlertBook } from './alerts';
import type { Api, Twin } from './api';
import type { Identity } from './auth';
import type { Models } from './signals';
import type { LatestStore } from './store';
import type { Stream } from './stream';

export interface AppContext {
  api: Api;
  stream: Stream;
  store: LatestStore;
  models: Models;
  who: Identity;
  twins: Map<string, Twin>;
  /** Alerts (GET /api/v1/alerts + stream pushes); `alerts.available === false` on older servers. */
  alerts: AlertBook;
  /** Navigates to a route, e.g. navigate('/twin/pump-1', {signal: 'flow_m3h'}). */
  navigate(path: string, query?: Record<string, string>): void;
}

export interface Route {
  path: string; // "/twin/pump-1"
  parts: string[]; // ["twin", "pump-1"]
  query: URLSearchParams;
}

/** A view renders into `root` and returns its cleanup (unsubscribe, timers, GL context). */
export type View = (root: HTMLElement, ctx: AppContext, route: Route) => (() => void) | Promise<() => void>;

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { path: '/' + parts.map(encodeURIComponent).join('/'), parts, query: new URLSearchParams(qs) };
}

export function routeHref(path: string, query?: Record<string, string>): string {
  const qs = query ? new URLSearchParams(query).toString() : '';
  return '#' + path + (qs ? '?' + qs : '');
}
