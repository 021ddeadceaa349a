// The admin API client: same-origin cookies, the CSRF token for state-changing calls.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, { query, body, csrf } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrf) headers['x-csrf-token'] = csrf;
  const response = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data?.error?.code ?? 'error', data?.error?.message ?? response.statusText);
  return data;
}

export const get = (path, query) => request('GET', path, { query });

async function csrfToken() {
  const { csrfToken } = await request('GET', '/api/admin/csrf');
  return csrfToken;
}

export async function login(email, password) {
  return request('POST', '/api/admin/login', { body: { email, password }, csrf: await csrfToken() });
}

/** A state-changing call of the console (takeover, reply, release, notes). */
export async function post(path, body) {
  return request('POST', path, { body, csrf: await csrfToken() });
}

export async function logout() {
  return request('POST', '/api/admin/logout', { csrf: await csrfToken() });
}

export function exportUrl(format, query) {
  const url = new URL('/api/admin/tool-calls/export', location.origin);
  for (const [key, value] of Object.entries(query)) if (value) url.searchParams.set(key, value);
  url.searchParams.set('format', format);
  return url.pathname + url.search;
}
