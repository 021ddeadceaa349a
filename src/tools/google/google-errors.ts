import { describeFailure, IntegrationError, kindForStatus, type IntegrationFailureKind } from '../integration-error.js';

/**
 * googleapis (gaxios) errors → IntegrationError. Google's error body is
 * `{ error: { code, message, errors: [{ domain, reason, message }] } }`; only the
 * `reason` code is kept (the message can echo email addresses or ids).
 */
export function toGoogleError(integration: string, error: unknown): unknown {
  if (error instanceof IntegrationError) return error;
  if (!(error instanceof Error)) return error;
  const status = statusOf(error);
  if (status === undefined) {
    if (error.name === 'AbortError') return error;
    return new IntegrationError({ integration, kind: 'network', message: describeFailure('network') });
  }
  const reason = reasonOf(error);
  let kind: IntegrationFailureKind = kindForStatus(status);
  // Google reports quota exhaustion as 403 with a rate-limit reason.
  if (status === 403 && reason !== undefined && /rateLimitExceeded|userRateLimitExceeded|quotaExceeded/.test(reason)) kind = 'rate_limited';
  const detail = reason !== undefined && /^[A-Za-z]+$/.test(reason) ? ` (reason: ${reason})` : '';
  return new IntegrationError({ integration, kind, status, message: `${describeFailure(kind, status)}${detail}` });
}

export function statusOf(error: unknown): number | undefined {
  const candidate = error as { status?: unknown; response?: { status?: unknown } };
  const status = candidate.response?.status ?? candidate.status;
  return typeof status === 'number' ? status : undefined;
}

function reasonOf(error: unknown): string | undefined {
  const data = (error as { response?: { data?: unknown } }).response?.data as
    | { error?: { errors?: { reason?: unknown }[]; status?: unknown } }
    | undefined;
  const reason = data?.error?.errors?.[0]?.reason ?? data?.error?.status;
  return typeof reason === 'string' ? reason : undefined;
}
