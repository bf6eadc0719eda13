// The WebSocket stream (/api/v1/stream?token=...): one connection for the whole app, reconnecting
// with backoff, re-sending the current subscription after each (re)connect. Views set the
// subscription they need; events are handed to listeners in the batches the server sends (never
// one callback per event), and the store turns them into at most one DOM update per frame.

import type { Alert, Annotation } from './api';

export interface TelemetryEvent {
  twin: string;
  signal: string;
  ts: number; // ns
  value: number;
}

export type StreamState = 'connecting' | 'open' | 'closed';
export type Selection = string[] | '*';

type Listener = (events: TelemetryEvent[]) => void;
/** A pushed alert (raise/ack/clear) or annotation (create; `deleted` on delete). */
export type Push = { type: 'alert'; alert: Alert } | { type: 'annotation'; annotation: Annotation; deleted?: boolean };
type PushListener = (p: Push) => void;

export class Stream {
  private ws: WebSocket | null = null;
  private twins: Selection = [];
  private signals: Selection = [];
  private listeners = new Set<Listener>();
  private pushListeners = new Set<PushListener>();
  private stateListeners = new Set<(s: StreamState) => void>();
  private retryMs = 500;
  private timer: number | undefined;
  private stopped = false;
  state: StreamState = 'closed';
  /** Events received and dropped by the server for lagging, since the page loaded. */
  received = 0;
  dropped = 0;

  constructor(private readonly token: string) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
    this.setState('closed');
  }

  onEvents(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Alert and annotation pushes (servers with alerts/annotations; others never send them). */
  onPush(l: PushListener): () => void {
    this.pushListeners.add(l);
    return () => this.pushListeners.delete(l);
  }

  onState(l: (s: StreamState) => void): () => void {
    this.stateListeners.add(l);
    l(this.state);
    return () => this.stateListeners.delete(l);
  }

  /** Replaces the subscription ('*' = all). An empty twin list subscribes to nothing. */
  subscribe(twins: Selection, signals: Selection): void {
    this.twins = twins;
    this.signals = signals;
    this.sendSubscription();
  }

  private sendSubscription(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ unsubscribe: {} }));
    if (this.twins !== '*' && this.twins.length === 0) return;
    const sub: Record<string, string[]> = {};
    if (this.twins !== '*') sub.twins = this.twins;
    if (this.signals !== '*' && this.signals.length > 0) sub.signals = this.signals;
    ws.send(JSON.stringify({ subscribe: sub }));
  }

  private emitPush(p: Push): void {
    for (const l of this.pushListeners) {
      try {
        l(p);
      } catch (e) {
        console.warn('push listener failed', e);
      }
    }
  }

  private setState(s: StreamState): void {
    if (this.state === s) return;
    this.state = s;
    for (const l of this.stateListeners) l(s);
  }

  private open(): void {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}/api/v1/stream?token=${encodeURIComponent(this.token)}`;
    this.setState('connecting');
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 500;
      this.setState('open');
      this.sendSubscription();
    };
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      let msg: { type?: string; events?: TelemetryEvent[]; dropped?: number; message?: string; alert?: Alert; annotation?: Annotation; deleted?: boolean };
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.type === 'telemetry' && Array.isArray(msg.events)) {
        this.received += msg.events.length;
        if (msg.dropped) this.dropped += msg.dropped;
        for (const l of this.listeners) l(msg.events);
      } else if (msg.type === 'alert' && msg.alert) {
        this.emitPush({ type: 'alert', alert: msg.alert });
      } else if (msg.type === 'annotation' && msg.annotation) {
        this.emitPush({ type: 'annotation', annotation: msg.annotation, deleted: msg.deleted === true || (msg.annotation as { deleted?: boolean }).deleted === true });
      } else if (msg.type === 'error') {
        console.warn('stream:', msg.message);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState('closed');
      if (this.stopped) return;
      this.timer = window.setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }
}
