/**
 * The admin API as a browser or a script calls it: fetch with a tiny cookie jar and the CSRF
 * header on writes (session cookie), or a bearer token.
 */
export class AdminClient {
  readonly cookies = new Map<string, string>();
  #csrf: string | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  static bearer(baseUrl: string, token: string): AdminClient {
    return new AdminClient(baseUrl, { authorization: `Bearer ${token}` });
  }

  /** Logs an account in (cookie session); writes then carry the CSRF token. */
  static async session(baseUrl: string, email: string, password: string): Promise<AdminClient> {
    const client = new AdminClient(baseUrl);
    const login = await client.post('/api/admin/login', { email, password });
    if (login.status !== 200) throw new Error(`login as ${email} failed: ${login.status} ${JSON.stringify(login.body)}`);
    return client;
  }

  /**
   * The same caller acting in workspace `workspaceId` (the `x-switchboard-workspace` header an
   * owner or the token holder sends); the session cookie is shared, the CSRF token fetched anew.
   */
  inWorkspace(workspaceId: string): AdminClient {
    const client = new AdminClient(this.baseUrl, { ...this.headers, 'x-switchboard-workspace': workspaceId });
    for (const [name, value] of this.cookies) client.cookies.set(name, value);
    return client;
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { ...this.headers };
    // First: fetching the token sets the CSRF secret cookie this request must carry.
    if (method !== 'GET' && !this.headers.authorization) headers['x-csrf-token'] = await this.csrfToken();
    if (this.cookies.size > 0) headers.cookie = this.cookieHeader;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    this.keepCookies(response.headers.getSetCookie());
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: response.status, body: parsed };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  post(path: string, body: unknown = {}) {
    return this.request('POST', path, body);
  }

  private async csrfToken(): Promise<string> {
    if (!this.#csrf) this.#csrf = (await this.get('/api/admin/csrf')).body.csrfToken as string;
    return this.#csrf;
  }

  private keepCookies(lines: string[]): void {
    for (const line of lines) {
      const [pair] = line.split(';');
      const [name, ...rest] = pair!.split('=');
      const value = rest.join('=');
      if (value === '' || /expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), value);
    }
  }
}
