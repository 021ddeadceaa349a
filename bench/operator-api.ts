/** Each API call gives up after this long (a bounded loop, never a hung bench). */
const REQUEST_TIMEOUT_MS = 20_000;

export interface TimedResponse<T> {
  /** `performance.now()` just before the request was issued. */
  startedAt: number;
  /** Issued → response body parsed. */
  ms: number;
  body: T;
}

/**
 * The operators' admin API as the ADMIN_TOKEN holder speaks it (a bearer token: no cookie, no
 * CSRF token), over `fetch` with keep-alive. A status other than 200 throws with the body.
 */
export class OperatorApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  takeover(conversationId: string): Promise<TimedResponse<{ status: string; operator: string | null }>> {
    return this.request('POST', `/api/admin/conversations/${conversationId}/takeover`);
  }

  reply(conversationId: string, text: string): Promise<TimedResponse<{ messageId: string; delivery: string }>> {
    return this.request('POST', `/api/admin/conversations/${conversationId}/messages`, { text });
  }

  /** The cheapest authenticated route (no database work for the token holder): the floor of an admin round trip. */
  me(): Promise<TimedResponse<{ actor: string }>> {
    return this.request('GET', '/api/admin/me');
  }

  /** One page of stored Stripe events, newest first (`query`: the filters, e.g. `limit=200&status=received`). */
  payments(query: string): Promise<TimedResponse<{ items: { id: string; type: string; status: string; outcome: string | null }[]; nextCursor: string | null }>> {
    return this.request('GET', `/api/admin/payments?${query}`);
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<TimedResponse<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const startedAt = performance.now();
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    const ms = performance.now() - startedAt;
    if (response.status !== 200) throw new Error(`${method} ${path.replace(/[0-9a-f-]{36}/, ':id')}: ${response.status} ${text.slice(0, 200)}`);
    return { startedAt, ms, body: JSON.parse(text) as T };
  }
}
