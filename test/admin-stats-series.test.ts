import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from './helpers/admin-client.js';
import { seedConversation, seedToolCall, seedTurn } from './helpers/admin-seed.js';
import { startTestApp, type RunningApp } from './helpers/test-app.js';

/**
 * The overview's time series against the real server and PostgreSQL: buckets that fit the
 * window (an hour in minutes, a day in quarter hours, a week in 3 hours, a month in 6 hours, a year
 * in weeks), every bucket present with empty ones as zero, and each row counted in its own bucket.
 */

const ADMIN_TOKEN = 'admin-token-for-series-tests-0123456789';
let server: RunningApp;
let api: AdminClient;
const end = new Date('2026-03-10T12:00:00.000Z');
const before = (minutes: number) => new Date(end.getTime() - minutes * 60_000);

beforeAll(async () => {
  server = await startTestApp({ ADMIN_TOKEN });
  const db = server.app.database!.db;
  api = AdminClient.bearer(server.url, ADMIN_TOKEN);
  const conversation = await seedConversation(db, 'web', 'visitor:5b1d0c4e-0000-4000-8000-000000000001', before(1));
  // Three turns in the last hour, minutes apart, and one a week and a half ago.
  for (const [minutes, latencyMs] of [[50, 100], [30, 300], [5, 700], [15_000, 50]] as const) {
    const turn = await seedTurn(db, conversation, { text: 'hi', at: before(minutes), latencyMs });
    await seedToolCall(db, conversation, turn.userMessageId, { toolName: 'lookup', status: minutes === 30 ? 'error' : 'ok', at: before(minutes) });
  }
});

afterAll(async () => {
  await server?.stop();
});

const stats = async (hours: number) => {
  const from = new Date(end.getTime() - hours * 3600_000);
  const response = await api.get(`/api/admin/stats?from=${from.toISOString()}&to=${end.toISOString()}`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
};
const busy = (body: any) => body.series.filter((point: any) => point.messages > 0).map((point: any) => point.at);

describe('GET /api/admin/stats series', () => {
  it('draws the last hour as sixty minutes, each turn in its own minute', async () => {
    const body = await stats(1);
    expect(body.window).toMatchObject({ bucket: '1 min', bucketSeconds: 60 });
    expect(body.series).toHaveLength(60);
    expect(busy(body)).toEqual([before(50).toISOString(), before(30).toISOString(), before(5).toISOString()]);
    expect(body.series.find((point: any) => point.at === before(30).toISOString())).toEqual({
      at: before(30).toISOString(),
      messages: 1,
      toolCalls: 1,
      toolErrors: 1,
      p95LatencyMs: 300,
    });
  });

  it('fits each window in at most 120 points', async () => {
    const cases = [
      [24, '15 min', 900, 96],
      [24 * 7, '3 h', 3 * 3600, 56],
      [24 * 30, '6 h', 6 * 3600, 120],
    ] as const;
    for (const [hours, bucket, seconds, points] of cases) {
      const body = await stats(hours);
      expect(body.window, `${hours} h`).toMatchObject({ bucket, bucketSeconds: seconds });
      expect(body.series, `${hours} h`).toHaveLength(points);
      // Consecutive buckets, none missing.
      const steps = new Set(body.series.slice(1).map((point: any, index: number) => Date.parse(point.at) - Date.parse(body.series[index].at)));
      expect([...steps]).toEqual([seconds * 1000]);
      const total = body.series.reduce((sum: number, point: any) => sum + point.messages, 0);
      // The older turn was 250 hours ago: inside the month, outside the day and the week.
      expect(total, `${hours} h`).toBe(hours > 250 ? 4 : 3);
    }
    // A day in quarter hours: the three turns of the last hour land in three buckets.
    expect(busy(await stats(24))).toEqual(['2026-03-10T11:00:00.000Z', '2026-03-10T11:30:00.000Z', '2026-03-10T11:45:00.000Z']);
  });

  it('draws a year in weeks that start on Monday (UTC), and keeps the older turn', async () => {
    const body = await stats(24 * 366);
    expect(body.window).toMatchObject({ bucket: '7 d', bucketSeconds: 7 * 24 * 3600 });
    expect(body.series.length).toBeLessThanOrEqual(54);
    for (const point of body.series) expect(new Date(point.at).getUTCDay()).toBe(1);
    // 2026-03-10 is a Tuesday: this week's bucket starts Monday the 9th and holds all three recent turns.
    expect(body.series.at(-1)).toMatchObject({ at: '2026-03-09T00:00:00.000Z', messages: 3 });
    expect(body.series.reduce((sum: number, point: any) => sum + point.messages, 0)).toBe(4);
  });
});
