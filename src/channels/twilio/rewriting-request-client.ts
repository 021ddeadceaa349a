import twilio from 'twilio';
import type BaseRequestClient from 'twilio/lib/base/RequestClient.js';

/**
 * The twilio SDK's HTTP client with every `https://*.twilio.com` URL rewritten to
 * `baseUrl` (a local Twilio-compatible endpoint or an egress proxy). The SDK has no
 * base-URL option; this is its documented extension point (`httpClient`).
 */
export class RewritingRequestClient extends twilio.RequestClient {
  readonly #base: URL;

  constructor(baseUrl: string, options: ConstructorParameters<typeof twilio.RequestClient>[0] = {}) {
    // Retries belong to our delivery policy (delivery-retry.ts), never to the SDK as well.
    super({ ...options, autoRetry: false });
    this.#base = new URL(baseUrl);
  }

  override request<TData>(opts: BaseRequestClient.RequestOptions<TData>) {
    const original = new URL(opts.uri);
    const rewritten = new URL(`${this.#base.pathname.replace(/\/$/, '')}${original.pathname}${original.search}`, this.#base);
    return super.request<TData>({ ...opts, uri: rewritten.toString() });
  }
}
