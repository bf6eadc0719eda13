// Extension point for the twin view's side panels. The command panel and the properties panel
// register here; estimates, alerts, what-if and MPC panels will too when their APIs land:
//
//   registerTwinPanel({ id: 'estimates', title: 'Estimated state', order: 30,
//     applies: (ctx, twin) => kindOf(twin.model) === 'pump',
//     mount: (el, ctx, twin) => { ...; return () => { /* cleanup */ }; } });
import type { AnnotationSet } from '../annotations';
import type { Twin } from '../api';
import type { AppContext } from '../app';

/** What the twin view shares with its panels. */
export interface TwinViewHandle {
  /** A container above the charts (full width), e.g. for the what-if prediction chart. */
  top: HTMLElement;
  /** The visible time range, ms since the epoch. */
  range(): [number, number];
  /** Shows this range on every chart (leaves live mode). */
  showRange(fromMs: number, toMs: number): void;
  /** The twin's annotations (drawn on the charts). */
  annotations: AnnotationSet;
  /**
   * Annotate mode: while on, a drag across a chart selects a range for a note instead of zooming;
   * `onPick(signal, fromMs, toMs)` gets it.
   */
  annotateMode(on: boolean, onPick?: (signal: string, fromMs: number, toMs: number) => void): void;
  /** Measured points of a signal currently held by its chart (seconds, values). */
  series(signal: string): { xs: number[]; ys: number[] } | undefined;
}

export interface TwinPanel {
  id: string;
  title: string;
  /** Lower first. */
  order: number;
  applies(ctx: AppContext, twin: Twin): boolean;
  mount(el: HTMLElement, ctx: AppContext, twin: Twin, view: TwinViewHandle): () => void;
}

const panels: TwinPanel[] = [];

export function registerTwinPanel(p: TwinPanel): void {
  const i = panels.findIndex((q) => q.id === p.id);
  if (i >= 0) panels.splice(i, 1);
  panels.push(p);
  panels.sort((a, b) => a.order - b.order);
}

export function twinPanels(): readonly TwinPanel[] {
  return panels;
}
