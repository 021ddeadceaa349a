import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { SocketPeers } from '../src/infra/socket-peers.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/private-redis.js';
import { waitFor } from './helpers/wait-for.js';

/** Which other socket.io servers run: what decides whether a broadcast may stay in its process. */
describe('SocketPeers', () => {
  const logger = createLogger({ level: 'silent' });
  // A private server: one case drops every subscriber, as a Redis restart would.
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await redis?.kill();
  });
  const opened: Redis[] = [];
  const started: SocketPeers[] = [];
  const client = () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    opened.push(connection);
    return connection;
  };
  const peers = async (channel: string, recountMs = 200) => {
    const instance = new SocketPeers(redis.url, client(), channel, logger, { recountMs });
    started.push(instance);
    await instance.start();
    return instance;
  };
  const channel = () => `test-peers-${randomBytes(5).toString('hex')}#instances`;

  afterEach(async () => {
    for (const instance of started.splice(0)) await instance.stop();
    for (const connection of opened.splice(0)) connection.disconnect();
  });

  it('knows at start whether it is alone, and each instance learns of the other whichever started first', async () => {
    const name = channel();
    const first = await peers(name);
    expect(first.alone).toBe(true);
    expect(first.others).toBe(0);
    const second = await peers(name);
    expect(second.alone).toBe(false);
    expect(second.others).toBe(1);
    await waitFor(() => first.others === 1, 'the first instance counting the second');
    expect(first.alone).toBe(false);
  });

  it('is alone again at once when the other says goodbye', async () => {
    const name = channel();
    const first = await peers(name, 60_000);
    const second = await peers(name, 60_000);
    await waitFor(() => first.others === 1, 'the first instance counting the second');
    await second.stop();
    await waitFor(() => first.others === 0, 'the goodbye counted');
    expect(first.alone).toBe(true);
  });

  it('believes an instance that vanished without a goodbye gone only when a second count agrees', async () => {
    const name = channel();
    const first = await peers(name);
    // Another instance as the wire sees it: subscribed, says hello, then its connection drops (killed, or a blip).
    const other = new Redis(redis.url);
    opened.push(other);
    const subscriber = new Redis(redis.url);
    opened.push(subscriber);
    await subscriber.subscribe(name);
    await other.publish(name, 'hello someone-else');
    await waitFor(() => first.others === 1, 'the hello heard');
    subscriber.disconnect();
    await waitFor(() => first.others === 0, 'a count without it');
    // Its subscription may be back in a moment (Redis restarted, a network blip): not alone yet.
    expect(first.alone).toBe(false);
    await waitFor(() => first.alone, 'the second count', 2000);
  });

  it('is not alone while its own subscription is lost', async () => {
    const first = await peers(channel());
    expect(first.alone).toBe(true);
    const probe = new Redis(redis.url);
    opened.push(probe);
    const clients = String(await probe.client('LIST'));
    const subscriberIds = [...clients.matchAll(/^id=(\d+) .* sub=1 /gm)].map((match) => match[1]!);
    expect(subscriberIds.length).toBeGreaterThan(0);
    // Drops every subscriber for a moment, as a Redis restart would (they reconnect at once).
    for (const id of subscriberIds) await probe.client('KILL', 'ID', id);
    await waitFor(() => !first.alone, 'the lost subscription noticed');
    // Back, it says hello again; a count of none after a lost subscription waits for a second one.
    await waitFor(() => first.alone, 'alone again', 3000);
  });
});
