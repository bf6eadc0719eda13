// What the dashboard knows about signals beyond the DTDL: short labels, unit symbols, display
// precision and alarm bands. DTDL (displayName, unit) wins where it says something; this table
// fills the gaps (vibration has no DTDL unit) and adds the bands. New signals work without an
// entry (generic formatting, no colour bands).
import type { DtdlContent, DtdlInterface } from './api';

export type Level = 'ok' | 'warn' | 'alarm' | 'none';

export interface SignalInfo {
  name: string;
  label: string; // short, for tiles
  title: string; // long, for charts
  unit: string;
  digits: number;
  /** Expected range, for gauges and 3D colour ramps. */
  min: number;
  max: number;
  /** Alarm bands: value >= warn is 'warn', >= alarm is 'alarm' (or <= for low bands). */
  warnHigh?: number;
  alarmHigh?: number;
  warnLow?: number;
  alarmLow?: number;
}

const UNIT_SYMBOLS: Record<string, string> = {
  cubicMetrePerHour: 'm³/h',
  cubicMetrePerSecond: 'm³/s',
  litrePerSecond: 'L/s',
  bar: 'bar',
  pascal: 'Pa',
  kilopascal: 'kPa',
  revolutionPerMinute: 'rpm',
  kilowatt: 'kW',
  watt: 'W',
  degreeCelsius: '°C',
  kelvin: 'K',
  hour: 'h',
  metre: 'm',
  millimetre: 'mm',
  percent: '%',
  second: 's',
  hertz: 'Hz',
};

const KNOWN: Record<string, Partial<SignalInfo>> = {
  flow_m3h: { label: 'Flow', unit: 'm³/h', digits: 1, min: 0, max: 250 },
  discharge_pressure_bar: { label: 'Pressure', unit: 'bar', digits: 2, min: 0, max: 5 },
  speed_rpm: { label: 'Speed', unit: 'rpm', digits: 0, min: 0, max: 1800 },
  power_kw: { label: 'Power', unit: 'kW', digits: 1, min: 0, max: 30 },
  // Insulation class F motors: alarm well before the winding limit.
  motor_temp_c: { label: 'Motor temp', unit: '°C', digits: 1, min: 20, max: 130, warnHigh: 90, alarmHigh: 110 },
  // ISO 10816-3 group 2, rigid foundation: B/C boundary 2.8 mm/s, C/D 4.5 mm/s (alarm at 7.1).
  vibration_mm_s: { label: 'Vibration', unit: 'mm/s', digits: 2, min: 0, max: 8, warnHigh: 4.5, alarmHigh: 7.1 },
  level_m: { label: 'Level', unit: 'm', digits: 2, min: 0, max: 5, warnLow: 0.75, alarmLow: 0.3, warnHigh: 4.6, alarmHigh: 4.9 },
  demand_m3h: { label: 'Demand', unit: 'm³/h', digits: 1, min: 0, max: 600 },
  // Remaining useful life (a pump's from its wear trend, a turbofan's in hours): the engine's horizon
  // (2000 h by default) means "at least that".
  rul_h: { label: 'RUL', unit: 'h', digits: 0, min: 0, max: 2000 },
};

/** The tile KPIs per model kind, in display order. */
export const KPIS: Record<string, string[]> = {
  pump: ['flow_m3h', 'discharge_pressure_bar', 'power_kw', 'motor_temp_c', 'vibration_mm_s', 'speed_rpm'],
  tank: ['level_m', 'demand_m3h'],
};

export function text(v: string | Record<string, string> | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  return v.en ?? Object.values(v)[0];
}

/** The engine's per-signal anomaly detector output ("anomaly.<signal>", a score in [0, 1]). */
export const ANOMALY_PREFIX = 'anomaly.';
/** Default levels of the demo's anomaly alert rule (min_score 0.9, clear 0.5). */
const ANOMALY_WARN = 0.5;
const ANOMALY_ALARM = 0.9;

/** The twin's fused anomaly score and its multivariate components (not per-signal). */
export const TWIN_ANOMALY: Record<string, [string, string]> = {
  anomaly: ['twin anomaly', 'Fused anomaly score of the twin (max of per-signal, PCA and NIS)'],
  'anomaly.pca': ['PCA anomaly', 'Multivariate anomaly score: PCA T² / SPE of the twin\'s rows'],
  'anomaly.nis': ['NIS anomaly', 'Estimator innovation (NIS) anomaly score'],
};

export function isAnomalySignal(name: string): boolean {
  return name in TWIN_ANOMALY || name.startsWith(ANOMALY_PREFIX);
}

export function signalInfo(name: string, content?: DtdlContent): SignalInfo {
  if (name in TWIN_ANOMALY) {
    const [label, title] = TWIN_ANOMALY[name];
    return { name, label, title, unit: '', digits: 2, min: 0, max: 1, warnHigh: ANOMALY_WARN, alarmHigh: ANOMALY_ALARM };
  }
  if (isAnomalySignal(name)) {
    const base = signalInfo(name.slice(ANOMALY_PREFIX.length));
    return { name, label: `${base.label} anomaly`, title: `Anomaly score: ${base.title}`, unit: '', digits: 2, min: 0, max: 1, warnHigh: ANOMALY_WARN, alarmHigh: ANOMALY_ALARM };
  }
  const k = KNOWN[name] ?? {};
  const dtdlTitle = content ? text(content.displayName) : undefined;
  const dtdlUnit = content?.unit ? UNIT_SYMBOLS[content.unit] ?? content.unit : undefined;
  return {
    name,
    label: k.label ?? dtdlTitle ?? name,
    title: dtdlTitle ?? k.label ?? name,
    unit: dtdlUnit ?? k.unit ?? '',
    digits: k.digits ?? 2,
    min: k.min ?? 0,
    max: k.max ?? 100,
    warnHigh: k.warnHigh,
    alarmHigh: k.alarmHigh,
    warnLow: k.warnLow,
    alarmLow: k.alarmLow,
  };
}

export function level(info: SignalInfo, v: number | undefined): Level {
  if (v === undefined || !Number.isFinite(v)) return 'none';
  if ((info.alarmHigh !== undefined && v >= info.alarmHigh) || (info.alarmLow !== undefined && v <= info.alarmLow)) return 'alarm';
  if ((info.warnHigh !== undefined && v >= info.warnHigh) || (info.warnLow !== undefined && v <= info.warnLow)) return 'warn';
  return 'ok';
}

export function format(info: SignalInfo, v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  return v.toFixed(info.digits);
}

function hasType(c: DtdlContent, t: string): boolean {
  return Array.isArray(c['@type']) ? c['@type'].includes(t) : c['@type'] === t;
}

/** Model catalogue: interfaces by DTMI, with `extends` resolved for contents. */
export class Models {
  private byId = new Map<string, DtdlInterface>();

  constructor(models: DtdlInterface[]) {
    for (const m of models) this.byId.set(m['@id'], m);
  }

  get(dtmi: string): DtdlInterface | undefined {
    return this.byId.get(dtmi);
  }

  contents(dtmi: string, seen = new Set<string>()): DtdlContent[] {
    const m = this.byId.get(dtmi);
    if (!m || seen.has(dtmi)) return [];
    seen.add(dtmi);
    const base = m.extends ? (Array.isArray(m.extends) ? m.extends : [m.extends]) : [];
    return [...base.flatMap((b) => this.contents(b, seen)), ...(m.contents ?? [])];
  }

  telemetry(dtmi: string): DtdlContent[] {
    return this.contents(dtmi).filter((c) => hasType(c, 'Telemetry'));
  }

  commands(dtmi: string): DtdlContent[] {
    return this.contents(dtmi).filter((c) => hasType(c, 'Command'));
  }

  properties(dtmi: string): DtdlContent[] {
    return this.contents(dtmi).filter((c) => hasType(c, 'Property'));
  }

  displayName(dtmi: string): string {
    const m = this.byId.get(dtmi);
    return text(m?.displayName) ?? shortModel(dtmi);
  }
}

/** "dtmi:doppel:demo:Pump;1" -> "Pump". */
export function shortModel(dtmi: string): string {
  const last = dtmi.split(':').pop() ?? dtmi;
  return last.split(';')[0];
}

/** 'pump' | 'tank' | 'station' | other lower-cased model name: picks tile KPIs and 3D roles. */
export function kindOf(dtmi: string): string {
  const s = shortModel(dtmi).toLowerCase();
  if (s.includes('pumpstation') || s.includes('station')) return 'station';
  if (s.includes('pump')) return 'pump';
  if (s.includes('tank')) return 'tank';
  return s;
}
