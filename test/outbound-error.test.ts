import { describe, expect, it } from 'vitest';
import { DeliveryError, isRetryableStatus } from '../src/channels/delivery-retry.js';
import { ConfigError } from '../src/config/config.js';
import { ConfigError as ConfigErrorFromFamily, ProviderError, SwitchboardError, kindForStatus } from '../src/errors/index.js';
import { TurnAlreadyCompletedError } from '../src/store/messages.js';
import { GoogleCredentialsError, createGoogleAuth } from '../src/tools/google/google-auth.js';
import { IntegrationError } from '../src/tools/integration-error.js';

describe('one status map, each edge its own retry owner', () => {
  it('gives every edge the same kind for a status', () => {
    expect([401, 402, 403, 404, 408, 409, 422, 429, 500, 503].map(kindForStatus)).toEqual([
      'auth',
      'auth',
      'auth',
      'not_found',
      'timeout',
      'conflict',
      'bad_request',
      'rate_limited',
      'server',
      'server',
    ]);
  });

  it('retries a provider’s 409 (a transient lock) but never an integration’s or a delivery’s', () => {
    expect(new ProviderError({ provider: 'p', kind: kindForStatus(409), message: 'locked', status: 409 }).retryable).toBe(true);
    expect(new IntegrationError({ integration: 'crm', kind: kindForStatus(409), message: 'exists', status: 409 }).retryable).toBe(false);
    expect(isRetryableStatus(409)).toBe(false);
  });

  it('agrees on the transient statuses everywhere', () => {
    for (const status of [408, 429, 500, 503]) {
      expect(new ProviderError({ provider: 'p', kind: kindForStatus(status), message: 'x' }).retryable).toBe(true);
      expect(new IntegrationError({ integration: 'crm', kind: kindForStatus(status), message: 'x' }).retryable).toBe(true);
      expect(isRetryableStatus(status)).toBe(true);
    }
    for (const status of [400, 401, 403, 404, 422]) {
      expect(new ProviderError({ provider: 'p', kind: kindForStatus(status), message: 'x' }).retryable).toBe(false);
      expect(new IntegrationError({ integration: 'crm', kind: kindForStatus(status), message: 'x' }).retryable).toBe(false);
      expect(isRetryableStatus(status)).toBe(false);
    }
    // A delivery without a status never reached the API: a network failure, worth another try.
    expect(isRetryableStatus(undefined)).toBe(true);
  });
});

describe('one error family', () => {
  it('puts every error class under SwitchboardError with its own name and a stable code', () => {
    const delivery = new DeliveryError({ message: 'Slack not reachable', retryable: true, status: 503, retryAfterMs: 2000 });
    const cases: [SwitchboardError, string, string, number][] = [
      [new ConfigError('Invalid configuration: X: bad'), 'ConfigError', 'config_invalid', 500],
      [delivery, 'DeliveryError', 'delivery_error', 502],
      [new TurnAlreadyCompletedError('m1'), 'TurnAlreadyCompletedError', 'turn_already_completed', 409],
    ];
    for (const [error, name, code, status] of cases) {
      expect(error).toBeInstanceOf(SwitchboardError);
      expect([error.name, error.code, error.httpStatus]).toEqual([name, code, status]);
    }
    expect(delivery).toMatchObject({ retryable: true, status: 503, retryAfterMs: 2000, message: 'Slack not reachable' });
    expect(new TurnAlreadyCompletedError('m1')).toMatchObject({ messageId: 'm1', message: 'message m1 already has its reply' });
    expect(ConfigError).toBe(ConfigErrorFromFamily);
  });

  it('reports bad Google credentials as a config error that never echoes the key', () => {
    let thrown: unknown;
    try {
      createGoogleAuth({ kind: 'service-account', json: '{"private_key": "-----BEGIN PRIVATE KEY----- secret' }, []);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GoogleCredentialsError);
    expect(thrown).toBeInstanceOf(SwitchboardError);
    expect(thrown).toMatchObject({ name: 'GoogleCredentialsError', code: 'config_invalid', message: 'GOOGLE_SERVICE_ACCOUNT_JSON is not valid JSON' });
  });
});
