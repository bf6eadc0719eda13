// Annotations of one twin: loaded with GET /api/v1/twins/{id}/annotations, kept current by the
// stream's {"type":"annotation"} pushes (so a note made in one browser appears in every other),
// drawn on the twin's charts (time ranges) and in the 3D view (anchors).
import { notAvailable, type Annotation, type Api } from './api';
import type { Stream } from './stream';

export class AnnotationSet {
  private byId = new Map<string, Annotation>();
  private listeners = new Set<() => void>();
  private offPush: () => void;
  /** undefined until loaded; false on a server without the annotation routes. */
  available: boolean | undefined = undefined;
  error = '';

  constructor(
    private readonly api: Api,
    stream: Stream,
    readonly twins: ReadonlySet<string>,
  ) {
    this.offPush = stream.onPush((p) => {
      if (p.type !== 'annotation' || !this.twins.has(p.annotation.twin)) return;
      if (p.deleted) this.byId.delete(p.annotation.id);
      else this.byId.set(p.annotation.id, p.annotation);
      this.emit();
    });
  }

  async load(): Promise<void> {
    try {
      const lists = await Promise.all([...this.twins].map((t) => this.api.annotations(t)));
      this.available = true;
      for (const l of lists) for (const a of l) this.byId.set(a.id, a);
    } catch (e) {
      if (notAvailable(e)) this.available = false;
      else this.error = e instanceof Error ? e.message : String(e);
    }
    this.emit();
  }

  /** Adds what the server answered to a create (the push may come before or after it). */
  put(a: Annotation): void {
    this.byId.set(a.id, a);
    this.emit();
  }

  remove(id: string): void {
    if (this.byId.delete(id)) this.emit();
  }

  /** Oldest first. */
  list(): Annotation[] {
    return [...this.byId.values()].sort((a, b) => a.from_ns - b.from_ns || a.created_ns - b.created_ns);
  }

  /** The ones for a chart of `signal`: pinned to it, or to no signal (the whole twin). */
  forSignal(twin: string, signal: string): Annotation[] {
    return this.list().filter((a) => a.twin === twin && !a.anchor && (!a.signal || a.signal === signal));
  }

  onChange(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  dispose(): void {
    this.offPush();
    this.listeners.clear();
  }

  private emit(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch (e) {
        console.warn('annotation listener failed', e);
      }
    }
  }
}
