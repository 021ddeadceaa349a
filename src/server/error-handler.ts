import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SwitchboardError } from '../errors/index.js';

/**
 * Turns any error into a JSON body with a stable code. Known errors keep their
 * message; anything else is logged and answered with a generic 500, so internals
 * never leak.
 */
export function handleHttpError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof SwitchboardError) {
    // Retry-After is whole seconds (RFC 9110); round up so a client never retries too early.
    if (error.retryAfterMs !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
    void reply.status(error.httpStatus).send({ error: error.toJSON() });
    return;
  }
  const fastifyError = error as FastifyError;
  const status = fastifyError.statusCode;
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    void reply.status(413).send({ error: { code: 'payload_too_large', message: 'request body is too large' } });
    return;
  }
  if (fastifyError.validation || (status !== undefined && status >= 400 && status < 500)) {
    void reply.status(status ?? 400).send({ error: { code: 'invalid_payload', message: fastifyError.message } });
    return;
  }
  request.log.error({ err: error }, 'unhandled error');
  void reply.status(500).send({ error: { code: 'internal_error', message: 'internal server error' } });
}
