import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, deferredChild } from '../src/observability/logger.js';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

describe('deferredChild', () => {
  it('logs with its bindings, redacted like any child, once a level is enabled', async () => {
    const { logger, lines } = capture('info');
    const log = deferredChild(logger, { messageId: 'm-1', channel: 'web' });
    log.info({ text: 'my card is 4242 4242 4242 4242', status: 'answered' }, 'turn finished');
    log.warn('second line');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ msg: 'turn finished', messageId: 'm-1', channel: 'web', status: 'answered', text: '[redacted]' });
    expect(lines[1]).toMatchObject({ msg: 'second line', messageId: 'm-1' });
  });

  it('writes nothing at a disabled level and still answers like a logger', async () => {
    const { logger, lines } = capture('warn');
    const log = deferredChild(logger, { messageId: 'm-2' });
    log.info('not written');
    log.debug({ detail: 1 }, 'not written either');
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.level).toBe('warn');
    log.error({ err: new Error('boom') }, 'written');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => line.msg)).toEqual(['written']);
    expect(lines[0]).toMatchObject({ messageId: 'm-2', err: { message: 'boom' } });
  });
});
