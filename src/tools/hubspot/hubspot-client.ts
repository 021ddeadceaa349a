import { Client } from '@hubspot/api-client';
import { describeFailure, IntegrationError, kindForStatus } from '../integration-error.js';
import type { IntegrationPolicy } from '../integration-policy.js';

const INTEGRATION = 'HubSpot';

export interface ContactFields {
  email: string;
  firstname?: string;
  lastname?: string;
  company?: string;
  phone?: string;
  /** HubSpot's default "Message" contact property. */
  message?: string;
}

export interface UpsertedContact {
  id: string;
  /** False when a contact with this email existed and was updated. */
  created: boolean;
}

/** HubSpot CRM v3 contacts through @hubspot/api-client, behind the shared timeout/retry policy. */
export class HubSpotClient {
  readonly #client: Client;

  constructor(
    accessToken: string,
    private readonly policy: IntegrationPolicy,
    basePath?: string,
  ) {
    // The SDK's own retries stay off (numberOfApiCallRetries 0): the policy owns retries.
    this.#client = new Client({
      accessToken,
      numberOfApiCallRetries: 0,
      ...(basePath !== undefined && { basePath: basePath.replace(/\/+$/, '') }),
    });
  }

  /**
   * batch/upsert keyed by email: an existing contact is updated, never duplicated,
   * which also makes the call safe to retry.
   */
  async upsertByEmail(fields: ContactFields, signal: AbortSignal): Promise<UpsertedContact> {
    const properties = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Record<string, string>;
    const response = await this.policy.run({ integration: INTEGRATION, idempotent: true, signal }, (attemptSignal) =>
      untilAborted(this.#client.crm.contacts.batchApi.upsert({ inputs: [{ id: fields.email, idProperty: 'email', properties }] }), attemptSignal).catch(
        (error: unknown) => {
          throw toHubSpotError(error);
        },
      ),
    );
    if ('numErrors' in response && response.numErrors && response.numErrors > 0) {
      const category = response.errors?.[0]?.category;
      throw new IntegrationError({
        integration: INTEGRATION,
        kind: 'bad_request',
        message: `${describeFailure('bad_request')}${category && /^[A-Z_]+$/.test(category) ? ` (${category})` : ''}`,
      });
    }
    const contact = response.results[0];
    if (!contact) throw new IntegrationError({ integration: INTEGRATION, kind: 'server', message: 'HubSpot answered without the contact' });
    return { id: contact.id, created: contact._new };
  }
}

/** HubSpot errors keep only the status and HubSpot's category code; the message can quote the contact's data. */
function toHubSpotError(error: unknown): unknown {
  if (error instanceof IntegrationError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 400) {
    const kind = kindForStatus(code);
    const category = (error as { body?: { category?: unknown } }).body?.category;
    const detail = typeof category === 'string' && /^[A-Z_]+$/.test(category) ? ` (${category})` : '';
    return new IntegrationError({ integration: INTEGRATION, kind, status: code, message: `${describeFailure(kind, code)}${detail}` });
  }
  if (error instanceof Error && error.name === 'AbortError') return error;
  return new IntegrationError({ integration: INTEGRATION, kind: 'network', message: describeFailure('network') });
}

/** The SDK takes no AbortSignal: stop waiting on abort (the policy's timeout), the request ends on its own. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new IntegrationError({ integration: INTEGRATION, kind: 'timeout', message: describeFailure('timeout') }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
