import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

/**
 * `GET /metrics` in the Prometheus text format. It carries counts and timings
 * labelled by channel, tool, provider and status only, never personal data, so it
 * is open like /health; keep it off the public internet at the proxy if needed.
 */
export function registerMetricsRoute(http: FastifyInstance, metrics: Metrics): void {
  http.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).header('cache-control', 'no-store').send(body);
  });
}
