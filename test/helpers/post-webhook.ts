/** What a webhook endpoint answered: the status, and the body parsed as JSON when it is JSON (else the text). */
export interface WebhookAnswer {
  status: number;
  body: any;
}

/** POSTs `rawBody` exactly as given (the bytes the signature covers) and reads the answer. */
export async function postWebhook(url: string, rawBody: string, headers: Record<string, string>): Promise<WebhookAnswer> {
  const response = await fetch(url, { method: 'POST', headers, body: rawBody });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, body };
}
