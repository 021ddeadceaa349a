import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GraphSend {
  to: string;
  text: string;
  /** `performance.now()` when the request's body had arrived. */
  at: number;
}

/**
 * The smallest Graph API the WhatsApp Cloud channel needs, in the bench process, recording when
 * each call arrived: `POST /{version}/{phoneNumberId}/messages` with the bearer token, a text
 * message (answered with a fresh wamid) or a read receipt (`{ success: true }`). Anything else is
 * answered 400 and counted as refused. Full wire-format checks are the tests' fake
 * (test/fakes/fake-whatsapp-cloud-api.ts); this one has to stay cheap at hundreds of calls a second.
 */
export class GraphApiAnswerer {
  readonly sends: GraphSend[] = [];
  /** wamid → arrival times of its read receipts. */
  readonly reads = new Map<string, number[]>();
  refused = 0;

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    readonly url: string,
  ) {}

  static async start(options: { phoneNumberId: string; token: string }): Promise<GraphApiAnswerer> {
    const path = new RegExp(`^/v\\d+\\.\\d+/${options.phoneNumberId}/messages$`);
    let answerer: GraphApiAnswerer | undefined;
    const server = createServer((request, response) => void answerer!.handle(request, response, path, `Bearer ${options.token}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    answerer = new GraphApiAnswerer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return answerer;
  }

  /** Read receipts received in all. */
  get readCount(): number {
    let count = 0;
    for (const times of this.reads.values()) count += times.length;
    return count;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse, path: RegExp, authorization: string): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of request) chunks.push(chunk as Buffer);
    } catch {
      return;
    }
    const at = performance.now();
    let body: Record<string, any> | undefined;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>;
    } catch {
      body = undefined;
    }
    const valid = request.method === 'POST' && path.test(request.url ?? '') && request.headers.authorization === authorization && body?.messaging_product === 'whatsapp';
    if (valid && body!.status === 'read' && typeof body!.message_id === 'string') {
      const times = this.reads.get(body!.message_id);
      if (times) times.push(at);
      else this.reads.set(body!.message_id, [at]);
      return answer(response, 200, { success: true });
    }
    if (valid && body!.type === 'text' && typeof body!.to === 'string' && typeof body!.text?.body === 'string') {
      this.sends.push({ to: body!.to, text: body!.text.body, at });
      return answer(response, 200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: body!.to, wa_id: body!.to }],
        messages: [{ id: `wamid.${randomBytes(30).toString('base64')}` }],
      });
    }
    this.refused++;
    answer(response, 400, { error: { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100 } });
  }
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  response.end(JSON.stringify(body));
}
