// The one door to the landx API: a fetch wrapper that adds the access token, rotates the
// refresh token once when the access token is refused (one refresh at a time, however many
// requests were refused together), and turns every problem+json answer into a Problem.
// Tokens live in this module's memory only: never in storage, URLs or logs.

const BASE = '/api/v1';

/** An RFC 9457 problem: `status`, `code`, `detail`, `errors` ([{field, message}]). */
export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || 'unknown';
    this.title = body?.title || '';
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
    this.retryAfter = null;
  }
}

let session = null; // {access, refresh, user}
let refreshing = null; // the refresh in flight, shared by every request refused meanwhile
const listeners = new Set();

/** Calls `fn(user|null)` whenever the signed-in user changes. */
export function onSession(fn) {
  listeners.add(fn);
}

function setSession(s) {
  session = s;
  for (const fn of listeners) fn(s ? s.user : null);
}

export function currentUser() {
  return session ? session.user : null;
}

function queryString(query) {
  if (!query) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function send(method, path, { body, raw, query, idempotencyKey, accept } = {}) {
  const headers = { Accept: accept || 'application/json' };
  if (raw !== undefined) headers['Content-Type'] = raw.type || 'application/octet-stream';
  else if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session) headers.Authorization = `Bearer ${session.access}`;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  return fetch(BASE + path + queryString(query), {
    method,
    headers,
    body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
}

async function read(res, as) {
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  if (!res.ok) {
    let body = null;
    if (type.includes('json')) body = await res.json().catch(() => null);
    const p = new Problem(res.status, body);
    p.retryAfter = res.headers.get('Retry-After');
    throw p;
  }
  if (as === 'blob') return res.blob();
  if (type.includes('json')) return res.json();
  return res.text();
}

async function rotate() {
  const refreshToken = session?.refresh;
  if (!refreshToken) return false;
  const res = await fetch(`${BASE}/auth/refresh`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ refresh_token: refreshToken }),
    credentials: 'omit',
  });
  if (!res.ok) {
    setSession(null);
    return false;
  }
  const pair = await res.json();
  session = { ...session, access: pair.access_token, refresh: pair.refresh_token };
  return true;
}

/**
 * `api('GET', '/listings', {query})`, `api('POST', '/listings', {body})`. Resolves to the
 * parsed answer (null for 204); rejects with a Problem.
 */
export async function api(method, path, opts = {}) {
  let res = await send(method, path, opts);
  if (res.status === 401 && session && !path.startsWith('/auth/')) {
    const usedAccess = session.access;
    if (!refreshing) refreshing = rotate().finally(() => { refreshing = null; });
    // Another request may already have rotated while this one was on its way.
    const ok = session && session.access !== usedAccess ? true : await refreshing;
    if (ok) res = await send(method, path, opts);
  }
  return read(res, opts.as);
}

export const get = (path, query) => api('GET', path, { query });
export const post = (path, body = {}, opts = {}) => api('POST', path, { ...opts, body });
export const patch = (path, body) => api('PATCH', path, { body });
export const del = (path) => api('DELETE', path);
/** Sends a file (a Blob) as the raw body, its type as Content-Type. */
export const upload = (path, file, query) => api('POST', path, { raw: file, query });
/** Fetches bytes with the session's token (never a token in a URL): resolves to a Blob. */
export const getBlob = (path) => api('GET', path, { as: 'blob', accept: '*/*' });

/** Pages through a list: `{items, next}`, `next()` giving the following page or null. */
export async function page(path, query = {}) {
  const p = await get(path, query);
  return {
    items: p.items || [],
    next: p.next_cursor ? () => page(path, { ...query, cursor: p.next_cursor }) : null,
  };
}

export async function login(email, password) {
  const r = await read(await send('POST', '/auth/login', { body: { email, password } }));
  session = { access: r.access_token, refresh: r.refresh_token, user: r.user };
  // The answer's user, fresh from /me (its verified flag may have changed since).
  const me = await get('/me');
  setSession({ ...session, user: me });
  return me;
}

export async function reloadMe() {
  if (!session) return null;
  const me = await get('/me');
  setSession({ ...session, user: me });
  return me;
}

export async function logout() {
  const refreshToken = session?.refresh;
  setSession(null);
  if (refreshToken) {
    await fetch(`${BASE}/auth/logout`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
      credentials: 'omit',
    }).catch(() => {});
  }
}

/** A fresh Idempotency-Key for one user action (a retry of that action reuses it). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
