/**
 * What every provider SDK client is constructed with. The three SDKs (Anthropic, OpenAI,
 * Groq) are generated from one template and take the same option names.
 */
export function sdkClientOptions(options: { apiKey: string; baseURL?: string | undefined; timeoutMs?: number | undefined }) {
  return {
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    // Our retry policy owns retries; SDK retries would multiply attempts.
    maxRetries: 0,
    ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
    // A model API answers; it does not redirect. A redirect is refused, a failed attempt that
    // names the base URL (see provider-errors), instead of the prompt being re-sent to wherever it
    // points. It is also cheaper: unless redirects are refused, undici's fetch clones every request
    // and tees its body stream, about 9 % of the CPU of a streamed call (BENCHMARKS.md).
    fetchOptions: { redirect: 'error' as const },
  };
}
