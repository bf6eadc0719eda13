// Sign-in: the token comes from the URL fragment (#token=..., as `doppel demo` prints it) or the
// sign-in form; it is kept in sessionStorage (or localStorage with "remember me") and removed from
// the address bar at once. The role decides what the UI offers (the server enforces it anyway).
import { Api, ApiError, type Me, type Role } from './api';

const KEY = 'doppel.token';
const ROLE_ORDER: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export interface Identity {
  role: Role;
  name: string;
  /** 'me': from GET /api/v1/me; 'probe': inferred from how the server answered a harmless write. */
  source: 'me' | 'probe';
  /** false when the role was probed and may be higher than shown (operator vs admin). */
  exact: boolean;
}

export function roleAtLeast(who: Identity | null, role: Role): boolean {
  return !!who && ROLE_ORDER[who.role] >= ROLE_ORDER[role];
}

/** Takes #token=... out of the fragment (keeping any #/route after it) and returns it. */
export function takeFragmentToken(): string | null {
  const hash = location.hash.replace(/^#/, '');
  if (!hash) return null;
  // Accept "#token=T", "#token=T&/fleet" and "#/twin/x?token=T" (lenient).
  const m = /(?:^|[&?])token=([^&]+)/.exec(hash);
  if (!m) return null;
  const token = decodeURIComponent(m[1]);
  let rest = hash.replace(m[0], '').replace(/^[&?]/, '');
  if (!rest.startsWith('/')) rest = '/';
  history.replaceState(null, '', location.pathname + location.search + '#' + rest);
  return token;
}

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function storeToken(token: string, remember: boolean): void {
  sessionStorage.setItem(KEY, token);
  if (remember) localStorage.setItem(KEY, token);
  else localStorage.removeItem(KEY);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

/**
 * Who the token is. Uses GET /api/v1/me when the server has it; otherwise probes with an empty
 * ingest batch (operator route, no side effects): 200 -> operator or higher, 403 -> viewer.
 * Throws ApiError(401) for a token the server does not know.
 */
export async function identify(api: Api): Promise<Identity> {
  try {
    const me: Me = await api.me();
    if (me && me.role in ROLE_ORDER) {
      return { role: me.role, name: me.name ?? `api:${me.role}`, source: 'me', exact: true };
    }
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
  }
  // No /me on this server: check the token with a read, then probe the write permission.
  await api.models();
  try {
    await api.post('/api/v1/ingest', { readings: [] });
    return { role: 'operator', name: 'api:operator', source: 'probe', exact: false };
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      return { role: 'viewer', name: 'api:viewer', source: 'probe', exact: true };
    }
    if (e instanceof ApiError && e.status === 400) {
      // Allowed but our empty batch was refused: the role passed the check.
      return { role: 'operator', name: 'api:operator', source: 'probe', exact: false };
    }
    throw e;
  }
}
