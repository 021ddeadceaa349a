/**
 * What a browser does in a sign-in through an identity provider, with fetch: redirects followed
 * by hand, one cookie jar across origins (by host, port and path), and the provider's login form
 * filled in. Tests stop at the app's callback to replay, forge or delay it.
 */

interface StoredCookie {
  value: string;
  path: string;
  expiresAt: number;
}

export class CookieJar {
  /** host:port → name → cookie. */
  readonly #cookies = new Map<string, Map<string, StoredCookie>>();

  header(url: URL): string {
    const now = Date.now();
    const entries = [...(this.#cookies.get(url.host) ?? new Map<string, StoredCookie>())];
    return entries
      .filter(([, cookie]) => cookie.expiresAt > now && (url.pathname === cookie.path || url.pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`)))
      .map(([name, cookie]) => `${name}=${cookie.value}`)
      .join('; ');
  }

  keep(url: URL, setCookies: string[]): void {
    const jar = this.#cookies.get(url.host) ?? new Map<string, StoredCookie>();
    this.#cookies.set(url.host, jar);
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at);
      const value = pair!.slice(at + 1);
      const attribute = (key: string) => attributes.find((item) => item.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1);
      const maxAge = attribute('max-age');
      const expires = attribute('expires');
      const expiresAt = maxAge !== undefined ? Date.now() + Number(maxAge) * 1000 : expires ? Date.parse(expires) : Infinity;
      const path = attribute('path') ?? '/';
      // Same name on another path is another cookie; keyed by name only, the newest wins (enough here).
      if (value === '' || expiresAt <= Date.now()) jar.delete(name);
      else jar.set(name, { value, path, expiresAt });
    }
  }

  get(host: string, name: string): string | undefined {
    return this.#cookies.get(host)?.get(name)?.value;
  }

  /** A copy, to replay a request with the cookies of an earlier moment. */
  clone(): CookieJar {
    const copy = new CookieJar();
    for (const [host, cookies] of this.#cookies) copy.#cookies.set(host, new Map([...cookies].map(([name, cookie]) => [name, { ...cookie }])));
    return copy;
  }
}

export interface Hop {
  status: number;
  url: URL;
  location: URL | undefined;
  setCookies: string[];
  body: string;
}

export async function request(jar: CookieJar, url: URL, init: { method?: string; form?: Record<string, string>; accept?: string } = {}): Promise<Hop> {
  const headers: Record<string, string> = { accept: init.accept ?? 'text/html,application/xhtml+xml' };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    redirect: 'manual',
    ...(init.form && { body: new URLSearchParams(init.form).toString() }),
  });
  const setCookies = response.headers.getSetCookie();
  jar.keep(url, setCookies);
  const location = response.headers.get('location');
  return { status: response.status, url, location: location ? new URL(location, url) : undefined, setCookies, body: await response.text() };
}

/**
 * From the app's start URL through the provider (signing in as `login` when it asks) to the
 * moment the provider sends the browser back: returns the callback URL, not yet visited.
 */
export async function walkToCallback(jar: CookieJar, startUrl: URL, login: string): Promise<URL> {
  const appOrigin = startUrl.origin;
  let hop = await request(jar, startUrl);
  for (let steps = 0; steps < 12; steps++) {
    if (hop.location) {
      if (hop.location.origin === appOrigin) return hop.location;
      hop = await request(jar, hop.location);
      continue;
    }
    if (hop.status === 200 && /name="login"/.test(hop.body)) {
      // oidc-provider's development login form (any password).
      const action = /<form[^>]*action="([^"]+)"/.exec(hop.body)?.[1];
      hop = await request(jar, new URL(action ?? hop.url.href, hop.url), { method: 'POST', form: { prompt: 'login', login, password: 'any password' } });
      continue;
    }
    throw new Error(`sign-in stopped at ${hop.url.href}: ${hop.status} ${hop.body.slice(0, 300)}`);
  }
  throw new Error('sign-in did not come back to the app');
}
