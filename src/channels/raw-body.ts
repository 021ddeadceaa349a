import type { FastifyInstance } from 'fastify';

/**
 * Inside an encapsulated plugin: keep JSON and form bodies as the raw Buffer, so
 * webhook signatures are checked over the exact bytes the provider signed. Routes
 * outside the plugin keep Fastify's normal parsers.
 */
export function keepRawBodies(instance: FastifyInstance): void {
  instance.removeAllContentTypeParsers();
  instance.addContentTypeParser(
    ['application/json', 'application/x-www-form-urlencoded'],
    { parseAs: 'buffer' },
    (_request, body, done) => done(null, body),
  );
}

/** Decodes an application/x-www-form-urlencoded body into a flat record (the last value of a repeated key wins). */
export function parseForm(raw: Buffer): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
}
