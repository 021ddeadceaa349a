// The admin API client: same-origin cookies, the CSRF token for state-changing calls, and the
// workspace an owner acts in.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    /** The whole `error` object of the answer (settings `problems`, credential `issues`). */
    this.details = details ?? {};
  }
}

const WORKSPACE_KEY = 'switchboard-admin-workspace';

/**
 * The workspace an owner picked in the header's switcher (sent as x-switchboard-workspace), kept
 * per browser tab: two tabs can work in two workspaces. None: the account's own workspace.
 */
export function actingWorkspace() {
  try {
    return sessionStorage.getItem(WORKSPACE_KEY) || null;
  } catch {
    return null;
  }
}

export function setActingWorkspace(id) {
  if (id) sessionStorage.setItem(WORKSPACE_KEY, id);
  else sessionStorage.removeItem(WORKSPACE_KEY);
}

/** Headers every API call carries: the acting workspace, when one is picked. */
export function workspaceHeaders() {
  const workspace = actingWorkspace();
  return workspace ? { 'x-switchboard-workspace': workspace } : {};
}

async function request(method, path, { query, body, csrf } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const headers = { accept: 'application/json', ...workspaceHeaders() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrf) headers['x-csrf-token'] = csrf;
  const response = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    // The picked workspace is gone (or this account may not pick it): back to the account's own.
    if (data?.error?.code === 'workspace_not_found' && headers['x-switchboard-workspace']) setActingWorkspace(null);
    throw new ApiError(response.status, data?.error?.code ?? 'error', data?.error?.message ?? response.statusText, data?.error);
  }
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

/** A state-changing call of the console (takeover, reply, release, notes, workspace changes). */
export async function send(method, path, body) {
  return request(method, path, { body, csrf: await csrfToken() });
}

export const post = (path, body) => send('POST', path, body);

export async function logout() {
  return request('POST', '/api/admin/logout', { csrf: await csrfToken() });
}

export function exportUrl(format, query) {
  const url = new URL('/api/admin/tool-calls/export', location.origin);
  for (const [key, value] of Object.entries(query)) if (value) url.searchParams.set(key, value);
  url.searchParams.set('format', format);
  return url.pathname + url.search;
}

/** A file of the API fetched with the console's headers (a plain link cannot send the acting workspace), then saved. */
export async function download(href) {
  const response = await fetch(href, { headers: workspaceHeaders(), credentials: 'same-origin' });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new ApiError(response.status, data?.error?.code ?? 'error', data?.error?.message ?? response.statusText, data?.error);
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'export';
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
