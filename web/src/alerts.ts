// The alert book on the client: every alert the server told us about, by id, fed by
// GET /api/v1/alerts (at start and every 15 s) and by {"type":"alert"} stream pushes. Views read
// counts and lists from it and subscribe to changes. A server without the alert routes answers 404:
// then `available` is false and the panels say so instead of failing.
import { notAvailable, type Alert, type Api, type Severity } from './api';
import type { Stream } from './stream';

export const SEVERITY_RANK: Record<Severity, number> = { info: 1, warning: 2, critical: 3 };
const POLL_MS = 15_000;

export function isActive(a: Alert): boolean {
  return a.state === 'raised' || a.state === 'acknowledged';
}

/** Needs an operator's attention: not yet acknowledged (raised, or cleared before anyone looked). */
export function needsAck(a: Alert): boolean {
  return a.state === 'raised' || a.state === 'cleared_unacknowledged';
}

export class AlertBook {
  private byId = new Map<number, Alert>();
  private listeners = new Set<(changed: Alert[]) => void>();
  private timer: number | undefined;
  /** undefined until the first answer; false on a server without /api/v1/alerts. */
  available: boolean | undefined = undefined;
  error = '';

  constructor(
    private readonly api: Api,
    stream: Stream,
  ) {
    stream.onPush((p) => {
      if (p.type !== 'alert') return;
      this.available = true;
      this.put([p.alert]);
    });
  }

  start(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const list = await this.api.alerts({ limit: 500 });
      this.available = true;
      this.error = '';
      this.put(list, true);
    } catch (e) {
      if (notAvailable(e)) {
        this.available = false;
        this.emit([]);
        return; // no polling a server that does not have it
      }
      this.error = e instanceof Error ? e.message : String(e);
      this.emit([]);
    }
    this.timer = window.setTimeout(() => void this.refresh(), POLL_MS);
  }

  /** Merges alerts (a newer state wins: pushes and polls may cross). */
  put(alerts: Alert[], full = false): void {
    const changed: Alert[] = [];
    for (const a of alerts) {
      const cur = this.byId.get(a.id);
      if (cur && JSON.stringify(cur) === JSON.stringify(a)) continue;
      if (cur && full && stamp(cur) > stamp(a)) continue; // a push newer than this poll
      this.byId.set(a.id, a);
      changed.push(a);
    }
    if (changed.length || full) this.emit(changed);
  }

  get(id: number): Alert | undefined {
    return this.byId.get(id);
  }

  /** Newest first, optionally for one twin. */
  list(twin?: string): Alert[] {
    const all = [...this.byId.values()].filter((a) => !twin || a.twin === twin);
    return all.sort((a, b) => b.raised_ns - a.raised_ns || b.id - a.id);
  }

  active(twin?: string): Alert[] {
    return this.list(twin).filter(isActive);
  }

  /** Worst severity among the twin's active alerts, or undefined. */
  worst(twin: string): Severity | undefined {
    let w: Severity | undefined;
    for (const a of this.byId.values()) {
      if (a.twin !== twin || !isActive(a)) continue;
      if (!w || SEVERITY_RANK[a.severity] > SEVERITY_RANK[w]) w = a.severity;
    }
    return w;
  }

  onChange(l: (changed: Alert[]) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(changed: Alert[]): void {
    for (const l of this.listeners) {
      try {
        l(changed);
      } catch (e) {
        console.warn('alert listener failed', e);
      }
    }
  }
}

/** The latest time the alert changed (for ordering and merging). */
function stamp(a: Alert): number {
  return Math.max(a.raised_ns ?? 0, a.last_raised_ns ?? 0, a.acked_ns ?? 0, a.cleared_ns ?? 0);
}
