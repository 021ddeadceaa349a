import { describe, expect, it } from 'vitest';
import { LocalRecovery, type BroadcastOptions } from '../src/infra/local-recovery.js';

/** Connection state recovery on a lone instance: the log of what it broadcast, and the sessions of dropped sockets. */
describe('LocalRecovery', () => {
  const WINDOW_MS = 120_000;
  let now = 0;
  const clock = () => now;
  const toRooms = (...rooms: string[]): BroadcastOptions => ({ rooms: new Set(rooms), except: new Set(), flags: {} });
  const event = (...data: unknown[]) => ({ type: 2, data });
  const session = (rooms: string[]) => ({ sid: 'sid-1', pid: 'pid-1', rooms, data: { conversationId: 'c1' } });

  it('replays what the socket’s rooms missed after its offset, each packet with its own offset last', () => {
    now = 0;
    const log = new LocalRecovery('abc', WINDOW_MS, 100, clock);
    const seen = event('reply.delta', { delta: 'Hel' });
    log.record(seen, toRooms('conversation:1'));
    const offset = seen.data.at(-1) as string;
    expect(offset).toMatch(/^~abc:\d+$/);
    log.persist(session(['sid-1', 'conversation:1']));
    log.record(event('reply.delta', { delta: 'lo' }), toRooms('conversation:1'));
    log.record(event('reply.delta', { delta: 'other' }), toRooms('conversation:2'));
    log.record(event('reply.done', { text: 'Hello' }), toRooms('conversation:1'));

    const restored = log.restore('pid-1', offset);
    expect(restored?.missedPackets.map((packet) => packet.slice(0, 2))).toEqual([
      ['reply.delta', { delta: 'lo' }],
      ['reply.done', { text: 'Hello' }],
    ]);
    expect(restored?.data).toEqual({ conversationId: 'c1' });
    // Once restored, the session is gone: a second attempt finds nothing here.
    expect(log.restore('pid-1', offset)).toBeUndefined();
  });

  it('replays from a checkpoint to a client that had received nothing yet', () => {
    now = 0;
    const log = new LocalRecovery('abc', WINDOW_MS, 100, clock);
    log.record(event('reply.done', { text: 'before' }), toRooms('conversation:1'));
    const checkpoint = log.checkpoint();
    log.persist(session(['conversation:1']));
    log.record(event('reply.done', { text: 'after' }), toRooms('conversation:1'));
    expect(log.restore('pid-1', checkpoint)?.missedPackets.map((packet) => packet[1])).toEqual([{ text: 'after' }]);
  });

  it('keeps no offset for packets that cannot be replayed (acks, volatile)', () => {
    const log = new LocalRecovery('abc', WINDOW_MS, 100, clock);
    const withAck = { type: 2, id: 7, data: ['question'] };
    log.record(withAck, toRooms('r'));
    const volatile = event('typing');
    log.record(volatile, { rooms: new Set(['r']), flags: { volatile: true } });
    expect(withAck.data).toEqual(['question']);
    expect(volatile.data).toEqual(['typing']);
  });

  it('does not replay across epochs: what was broadcast while others ran is not in the log', () => {
    now = 0;
    const log = new LocalRecovery('abc', WINDOW_MS, 100, clock);
    const checkpoint = log.checkpoint();
    log.persist(session(['conversation:1']));
    log.newEpoch();
    expect(log.restore('pid-1', checkpoint)).toBeUndefined();
    // A session kept in the new epoch with an offset of the old one: connects afresh.
    log.persist(session(['conversation:1']));
    expect(log.restore('pid-1', checkpoint)).toBeNull();
    // A new epoch's own checkpoint works.
    const fresh = log.checkpoint();
    log.persist(session(['conversation:1']));
    log.record(event('reply.done', { text: 'new' }), toRooms('conversation:1'));
    expect(log.restore('pid-1', fresh)?.missedPackets).toHaveLength(1);
  });

  it('forgets sessions and packets older than the recovery window, and packets beyond its size', () => {
    now = 0;
    const log = new LocalRecovery('abc', WINDOW_MS, 3, clock);
    const first = event('one');
    log.record(first, toRooms('r'));
    log.persist(session(['r']));
    for (const name of ['two', 'three', 'four']) log.record(event(name), toRooms('r'));
    // Four packets, three kept: the offset of the first is still fine (nothing after it is lost)…
    expect(log.restore('pid-1', first.data.at(-1) as string)?.missedPackets.map((packet) => packet[0])).toEqual(['two', 'three', 'four']);
    // …but a checkpoint from before it is not.
    const tooOld = '~abc:0';
    log.persist(session(['r']));
    expect(log.restore('pid-1', tooOld)).toBeNull();

    const offset = log.checkpoint();
    log.persist(session(['r']));
    now += WINDOW_MS + 1;
    expect(log.restore('pid-1', offset)).toBeNull();
  });

  it('appends the current epoch to a session restored from the stream, unless part of it is gone', () => {
    now = 0;
    const log = new LocalRecovery('abc', WINDOW_MS, 2, clock);
    log.newEpoch();
    log.record(event('here-1'), toRooms('r'));
    log.record(event('elsewhere'), toRooms('s'));
    const fromStream = { ...session(['r']), missedPackets: [['from-stream', '1-0']] };
    expect(log.appendEpoch(fromStream)?.missedPackets.map((packet) => packet[0])).toEqual(['from-stream', 'here-1']);
    log.record(event('here-2'), toRooms('r'));
    expect(log.appendEpoch(fromStream)).toBeNull();
  });

  it('never takes another log’s offset, or a stream entry id, for its own', () => {
    const log = new LocalRecovery('abc', WINDOW_MS, 100, clock);
    log.persist(session(['r']));
    expect(log.restore('pid-1', '~def:0')).toBeNull();
    expect(LocalRecovery.isLogOffset('1796616416997-0')).toBe(false);
    expect(LocalRecovery.isLogOffset(log.checkpoint())).toBe(true);
  });
});
