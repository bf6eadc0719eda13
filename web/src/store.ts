// Latest value of every (twin, signal), fed by the twin list and the stream. Events only mark twins
// dirty; views get one `frame(dirty)` call per animation frame with every twin that changed, so a
// thousand twins at several events a second cost one batched DOM pass per frame, not one per event.
import type { Latest, Twin } from './api';
import type { TelemetryEvent } from './stream';

type FrameListener = (dirty: ReadonlySet<string>) => void;

export class LatestStore {
  private values = new Map<string, Map<string, Latest>>();
  private dirty = new Set<string>();
  private listeners = new Set<FrameListener>();
  private scheduled = false;
  /** ms (wall clock) when each twin last got an event from the stream. */
  readonly lastSeen = new Map<string, number>();

  seed(twins: Twin[]): void {
    for (const t of twins) {
      let m = this.values.get(t.id);
      if (!m) this.values.set(t.id, (m = new Map()));
      for (const [signal, v] of Object.entries(t.telemetry ?? {})) {
        const cur = m.get(signal);
        if (!cur || cur.ts <= v.ts) m.set(signal, v);
      }
      this.dirty.add(t.id);
    }
    this.schedule();
  }

  apply(events: TelemetryEvent[]): void {
    const now = Date.now();
    for (const e of events) {
      let m = this.values.get(e.twin);
      if (!m) this.values.set(e.twin, (m = new Map()));
      const cur = m.get(e.signal);
      if (!cur || cur.ts <= e.ts) m.set(e.signal, { ts: e.ts, value: e.value });
      this.lastSeen.set(e.twin, now);
      this.dirty.add(e.twin);
    }
    this.schedule();
  }

  get(twin: string, signal: string): Latest | undefined {
    return this.values.get(twin)?.get(signal);
  }

  signalsOf(twin: string): Map<string, Latest> | undefined {
    return this.values.get(twin);
  }

  /** Subscribes to batched updates; returns the unsubscribe function. */
  onFrame(l: FrameListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Forces a frame for these twins (e.g. after a view mounted). */
  touch(twins: Iterable<string>): void {
    for (const t of twins) this.dirty.add(t);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      const dirty = this.dirty;
      this.dirty = new Set();
      for (const l of this.listeners) {
        try {
          l(dirty);
        } catch (e) {
          console.warn('frame listener failed', e);
        }
      }
    });
  }
}
