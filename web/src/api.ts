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
}

export type CommandStatus = 'pending' | 'sent' | 'acked' | 'rejected' | 'timed_out';

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
}
