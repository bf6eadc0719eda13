// Typed client for the Doppel HTTP API (docs/api.md). Timestamps are int64 ns on the wire; JSON
// numbers lose the last few bits of them, which is fine for display. Query bounds are sent as
// exact integers built with BigInt.

export type Quality = 'good' | 'uncertain' | 'bad';

export interface Latest {
  ts: number;
  value: number;
  quality?: Quality;
}

export interface Relationship {
  name: string;
  target: string;
}

export interface Twin {
  id: string;
  model: string;
  desired: Record<string, unknown>;
  reported: Record<string, unknown>;
  relationships: Relationship[];
  telemetry: Record<string, Latest>;
  /** Health score 0..100 (servers with health; null: not computed). */
  health?: number | null;
  /** Active (raised or acknowledged) alerts of this twin. */
  alerts_active?: number;
}

export type CommandStatus = 'pending' | 'proposed' | 'approved' | 'sent' | 'acked' | 'rejected' | 'timed_out' | 'superseded' | 'refused';

export interface CommandAuditEntry {
  status: CommandStatus;
  who: string;
  at_ns: number;
  why?: string;
}

export interface CommandHistoryEntry {
  status: CommandStatus;
  at: number;
  by: string;
  reason: string;
}

export interface Command {
  id: string;
  twin: string;
  name: string;
  request: unknown;
  status: CommandStatus;
  reason: string;
  issued_by: string;
  created: number;
  updated: number;
  history: CommandHistoryEntry[];
  /** operator | mpc | api (servers with approvals). */
  source?: string;
  /** The approval-aware trail (servers with approvals); `history` on older ones. */
  audit?: CommandAuditEntry[];
}

export type ControlMode = 'advisory' | 'approve' | 'auto';

export type Severity = 'info' | 'warning' | 'critical';
export type AlertState = 'raised' | 'acknowledged' | 'cleared' | 'cleared_unacknowledged';

export interface Alert {
  id: number;
  rule: string;
  twin: string;
  signal: string;
  severity: Severity;
  state: AlertState;
  reason: string;
  raised_ns: number;
  last_raised_ns?: number;
  acked_by?: string | null;
  acked_ns?: number | null;
  cleared_ns?: number | null;
  clear_reason?: string | null;
  count?: number;
  occurrences?: number;
  value?: number;
  limit?: number;
}

export interface HealthReason {
  what: string;
  penalty: number;
}

/** A maintenance work order (docs/enterprise.md). Times: ns since the epoch. */
export interface WorkOrder {
  id: string;
  twin: string;
  kind: string;
  kind_text: string;
  status: 'planned' | 'in_progress' | 'completed' | 'cancelled';
  planned_start_ns: number;
  completed_ns: number | null;
  description: string;
  source: string;
}

export interface SpecLimitView {
  signal: string;
  min: number | null;
  max: number | null;
  command_envelope: boolean;
  zero_ok: boolean;
  from: string;
}

export interface TwinContext {
  twin: string;
  spec: ({ rated_flow_m3h: number; rated_head_m: number; rated_power_kw: number } & Record<string, unknown>) | null;
  limits: SpecLimitView[];
  workorders: WorkOrder[];
}

/** One pump of an MPC plan: the trajectories over the plan's steps. */
export interface PlanPump {
  twin: string;
  impeller_wear: number;
  wear_source?: string;
  setpoint_rpm: number | null;
  speed_rpm: number[];
  duty?: number[];
  flow_m3h: number[];
}

/** The live MPC's plan (docs/control.md). Times are ns since the epoch (source time). */
export interface ControlPlan {
  /** False: no MPC loop runs on the server (then only `message` is set). */
  running: boolean;
  /** Null before the loop's first plan. */
  ts: number | null;
  message?: string;
  tank: string;
  period_s: number;
  horizon_s: number;
  band: { min_m: number; max_m: number; margin_m?: number };
  level_m: number;
  demand_m3h: number | null;
  solver_status: string;
  iterations: number;
  solve_wall_s: number;
  planned_energy_cost_eur: number;
  step_start_ns: number[];
  step_s: number;
  level_ts_ns: number[];
  planned_level_m: number[];
  pumps: PlanPump[];
}

export interface Health {
  twin: string;
  score: number | null;
  band?: string;
  reasons: HealthReason[];
  kpis: Record<string, number | null>;
}

export interface Anchor {
  x: number;
  y: number;
  z: number;
}

export interface Annotation {
  id: string;
  twin: string;
  author: string;
  created_ns: number;
  text: string;
  from_ns: number;
  to_ns: number;
  signal?: string | null;
  anchor?: Anchor | null;
}

export interface NewAnnotation {
  text: string;
  from_ns: number;
  to_ns: number;
  signal?: string;
  anchor?: Anchor;
}

export interface EstimatedValue {
  value: number;
  std: number;
  unit?: string;
}

export interface TwinState {
  twin: string;
  model: string;
  ts: number;
  estimator: string;
  states: Record<string, EstimatedValue>;
  parameters: Record<string, EstimatedValue>;
  inputs?: Record<string, number | null>;
  nis: { updates: number; last: number; last_dof: number; mean_per_dof: number; ewma_per_dof: number; ewma_per_channel?: Record<string, number> };
}

export interface Band {
  p5: number[];
  p50: number[];
  p95: number[];
}

export interface WhatIfOverrides {
  inputs?: Record<string, number>;
  params?: Record<string, number>;
}

export interface WhatIfRequest {
  horizon_s: number;
  step_s?: number;
  samples?: number;
  seed?: number;
  budget_s?: number;
  overrides?: WhatIfOverrides;
  scenarios?: { name: string; overrides?: WhatIfOverrides }[];
}

export interface WhatIfAnswer {
  twin: string;
  from: number;
  samples: number;
  wall_s: number;
  t: number[];
  outputs?: Record<string, Band>;
  scenarios?: { name: string; outputs: Record<string, Band> }[];
}

/** A background what-if (docs/api.md "What-if jobs"). */
export interface WhatIfJob {
  id: string;
  twin: string;
  owner: string;
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  progress: number;
  cancel_requested: boolean;
  created: number;
  started: number | null;
  finished: number | null;
  location: string;
  result?: WhatIfAnswer;
  error?: { code: string; message: string };
}

export interface TelemetryAnswer {
  twin: string;
  signal: string;
  from: number;
  to: number;
  points: [number, number][];
}

export type Role = 'viewer' | 'operator' | 'admin';

export interface Me {
  role: Role;
  name?: string;
}

// A DTDL interface as GET /api/v1/models returns it (only what the dashboard reads).
export interface DtdlContent {
  '@type': string | string[];
  name: string;
  displayName?: string | Record<string, string>;
  description?: string | Record<string, string>;
  schema?: unknown;
  unit?: string;
  writable?: boolean;
  request?: { name: string; schema: unknown; displayName?: string };
  target?: string;
}

export interface DtdlInterface {
  '@id': string;
  '@type': string;
  displayName?: string | Record<string, string>;
  description?: string | Record<string, string>;
  contents?: DtdlContent[];
  extends?: string | string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const NS_PER_MS = 1_000_000n;

/** Milliseconds since the epoch -> exact int64 ns as a decimal string. */
export function msToNsString(ms: number): string {
  return (BigInt(Math.round(ms)) * NS_PER_MS).toString();
}

export class Api {
  constructor(
    private readonly token: string,
    private readonly base = '',
  ) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, 'unavailable', `cannot reach the server: ${String(e)}`);
    }
    const text = await res.text();
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? 'http_' + res.status, err?.message ?? res.statusText);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  del(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  async twins(query: { model?: string; related?: string; rel?: string } = {}): Promise<Twin[]> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
    const qs = q.toString();
    return (await this.get<{ twins: Twin[] }>(`/api/v1/twins${qs ? '?' + qs : ''}`)).twins;
  }

  twin(id: string): Promise<Twin> {
    return this.get<Twin>(`/api/v1/twins/${encodeURIComponent(id)}`);
  }

  async models(): Promise<DtdlInterface[]> {
    return (await this.get<{ models: DtdlInterface[] }>('/api/v1/models')).models;
  }

  /** History of one signal; fromMs/toMs in ms since the epoch (toMs omitted: now). */
  telemetry(id: string, signal: string, fromMs: number, toMs: number | undefined, points: number): Promise<TelemetryAnswer> {
    const q = new URLSearchParams({ signal, from: msToNsString(Math.max(0, fromMs)), points: String(points) });
    if (toMs !== undefined) q.set('to', msToNsString(toMs));
    return this.get<TelemetryAnswer>(`/api/v1/twins/${encodeURIComponent(id)}/telemetry?${q}`);
  }

  async commands(id: string): Promise<Command[]> {
    return (await this.get<{ commands: Command[] }>(`/api/v1/twins/${encodeURIComponent(id)}/commands`)).commands;
  }

  command(id: string, cid: string): Promise<Command> {
    return this.get<Command>(`/api/v1/twins/${encodeURIComponent(id)}/commands/${encodeURIComponent(cid)}`);
  }

  submitCommand(id: string, name: string, request: unknown): Promise<Command> {
    return this.post<Command>(`/api/v1/twins/${encodeURIComponent(id)}/commands`, { name, request });
  }

  me(): Promise<Me> {
    return this.get<Me>('/api/v1/me');
  }

  // --- estimation ------------------------------------------------------------------------------

  state(id: string): Promise<TwinState> {
    return this.get<TwinState>(`/api/v1/twins/${encodeURIComponent(id)}/state`);
  }

  whatif(id: string, req: WhatIfRequest): Promise<WhatIfAnswer> {
    return this.post<WhatIfAnswer>(`/api/v1/twins/${encodeURIComponent(id)}/whatif`, req);
  }

  startWhatIf(id: string, req: WhatIfRequest): Promise<WhatIfJob> {
    return this.post<WhatIfJob>(`/api/v1/twins/${encodeURIComponent(id)}/whatif/jobs`, req);
  }

  whatIfJob(job: string): Promise<WhatIfJob> {
    return this.get<WhatIfJob>(`/api/v1/whatif/jobs/${encodeURIComponent(job)}`);
  }

  /** Asks a queued or running job to stop (202); a finished job is forgotten (204). */
  cancelWhatIf(job: string): Promise<void> {
    return this.del(`/api/v1/whatif/jobs/${encodeURIComponent(job)}`);
  }

  // --- alerts and health (docs/alerts.md) -------------------------------------------------------

  async alerts(query: { twin?: string; state?: string; limit?: number } = {}): Promise<Alert[]> {
    const q = new URLSearchParams();
    if (query.twin) q.set('twin', query.twin);
    if (query.state) q.set('state', query.state);
    if (query.limit) q.set('limit', String(query.limit));
    const qs = q.toString();
    return (await this.get<{ alerts: Alert[] }>(`/api/v1/alerts${qs ? '?' + qs : ''}`)).alerts;
  }

  ackAlert(id: number, note?: string): Promise<Alert> {
    return this.post<Alert>(`/api/v1/alerts/${id}/ack`, note ? { note } : {});
  }

  health(id: string): Promise<Health> {
    return this.get<Health>(`/api/v1/twins/${encodeURIComponent(id)}/health`);
  }

  /** The twin's work orders, design spec and limits (docs/enterprise.md). */
  twinContext(id: string): Promise<TwinContext> {
    return this.get<TwinContext>(`/api/v1/twins/${encodeURIComponent(id)}/context`);
  }

  /** The live MPC's last plan (GET /api/v1/control/plan; docs/control.md). */
  controlPlan(): Promise<ControlPlan> {
    return this.get<ControlPlan>('/api/v1/control/plan');
  }

  // --- annotations ----------------------------------------------------------------------------

  async annotations(id: string, fromMs?: number, toMs?: number): Promise<Annotation[]> {
    const q = new URLSearchParams();
    if (fromMs !== undefined) q.set('from', msToNsString(Math.max(0, fromMs)));
    if (toMs !== undefined) q.set('to', msToNsString(toMs));
    const qs = q.toString();
    return (await this.get<{ annotations: Annotation[] }>(`/api/v1/twins/${encodeURIComponent(id)}/annotations${qs ? '?' + qs : ''}`)).annotations;
  }

  createAnnotation(id: string, a: NewAnnotation): Promise<Annotation> {
    return this.post<Annotation>(`/api/v1/twins/${encodeURIComponent(id)}/annotations`, a);
  }

  deleteAnnotation(id: string, aid: string): Promise<void> {
    return this.del(`/api/v1/twins/${encodeURIComponent(id)}/annotations/${encodeURIComponent(aid)}`);
  }

  // --- approvals --------------------------------------------------------------------------------

  decideCommand(id: string, cid: string, decision: 'approve' | 'reject', reason?: string): Promise<Command> {
    return this.post<Command>(`/api/v1/twins/${encodeURIComponent(id)}/commands/${encodeURIComponent(cid)}/${decision}`, reason ? { reason } : {});
  }

  async controlMode(id: string): Promise<ControlMode> {
    return (await this.get<{ mode: ControlMode }>(`/api/v1/twins/${encodeURIComponent(id)}/control-mode`)).mode;
  }

  async setControlMode(id: string, mode: ControlMode): Promise<ControlMode> {
    return (await this.put<{ mode: ControlMode }>(`/api/v1/twins/${encodeURIComponent(id)}/control-mode`, { mode })).mode;
  }
}

/** True when the server does not have this route (yet): "404 no route for ...", or 405. */
export function notAvailable(e: unknown): boolean {
  if (!(e instanceof ApiError)) return false;
  if (e.status === 405) return true;
  return e.status === 404 && (/^no route/i.test(e.message) || e.code.startsWith('http_'));
}
