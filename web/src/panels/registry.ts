// Extension point for the twin view's side panels. The command panel and the properties panel
// register here; estimates, alerts, what-if and MPC panels will too when their APIs land:
//
//   registerTwinPanel({ id: 'estimates', title: 'Estimated state', order: 30,
//     applies: (ctx, twin) => kindOf(twin.model) === 'pump',
//     mount: (el, ctx, twin) => { ...; return () => { /* cleanup */ }; } });
import type { Twin } from '../api';
import type { AppContext } from '../app';

export interface TwinPanel {
  id: string;
  title: string;
  /** Lower first. */
  order: number;
  applies(ctx: AppContext, twin: Twin): boolean;
  mount(el: HTMLElement, ctx: AppContext, twin: Twin): () => void;
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
