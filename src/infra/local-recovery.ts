import type { Namespace } from 'socket.io';

type Adapter = Namespace['adapter'];
export type BroadcastOptions = Parameters<Adapter['broadcast']>[1];
export type Session = NonNullable<Awaited<ReturnType<Adapter['restoreSession']>>>;
type SessionToPersist = Parameters<Adapter['persistSession']>[0];

interface LoggedPacket {
  seq: number;
  rooms: ReadonlySet<string>;
  except: ReadonlySet<string> | undefined;
  /** The event's arguments, its offset last (what the client replays). */
  data: unknown[];
  at: number;
}

/** An offset this log hands out: `~<log id>:<seq>`. Never a stream entry id (`<ms>-<n>`), so the adapter never looks one up in Redis. */
const OFFSET = /^~([0-9a-f]+):(\d+)$/;

/**
 * Connection state recovery for broadcasts that stay in this process (a lone instance; see
 * socket-adapter.ts), as socket.io's in-memory adapter does it: every replayable packet gets an
 * offset and is kept for the recovery window, and a dropped socket's session is kept here; a
 * client back within the window gets what was sent to its rooms after its offset.
 *
 * The log covers one stretch of being alone (an epoch). Once other instances appear, broadcasts go
 * through the stream instead, the log and its sessions are dropped (`newEpoch`), and an offset of
 * an earlier stretch is never replayed from: packets of the stretch in between are not here.
 */
export class LocalRecovery {
  readonly #packets: LoggedPacket[] = [];
  /** Index of the oldest packet still kept in #packets (the array is compacted now and then). */
  #head = 0;
  readonly #sessions = new Map<string, { session: SessionToPersist; at: number }>();
  #nextSeq = 1;
  /** The first sequence number of the current epoch; offsets before it are not replayed from. */
  #epochStart = 1;

  constructor(
    /** Tells this process's offsets from another's (a client may come back after a restart). */
    private readonly id: string,
    private readonly windowMs: number,
    private readonly maxPackets: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether an offset was handed out by a log (this process's or another's), not by the stream. */
  static isLogOffset(offset: string): boolean {
    return OFFSET.test(offset);
  }

  /** Where a client that has received nothing yet stands: everything after this is replayed to it. */
  checkpoint(): string {
    return `~${this.id}:${this.#nextSeq - 1}`;
  }

  /**
   * Gives a replayable packet (an event without ack, not volatile: socket.io's rule) its offset and
   * keeps it; the offset is appended to its arguments as socket.io does, so the client holds it.
   */
  record(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
    if (packet.type !== 2 || packet.id !== undefined || opts.flags?.volatile !== undefined) return;
    const seq = this.#nextSeq++;
    packet.data.push(`~${this.id}:${seq}`);
    const at = this.now();
    this.#packets.push({ seq, rooms: opts.rooms, except: opts.except, data: packet.data, at });
    this.evict(at);
  }

  persist(session: SessionToPersist): void {
    const at = this.now();
    // Deleted first, so that the map stays in the order sessions dropped (`set` keeps a key's place).
    this.#sessions.delete(session.pid);
    this.#sessions.set(session.pid, { session, at });
    // Sessions are kept in the order they dropped: the expired ones are at the front.
    for (const [pid, kept] of this.#sessions) {
      if (kept.at > at - this.windowMs) break;
      this.#sessions.delete(pid);
    }
  }

  /**
   * A session kept here, with what its rooms missed after `offset`: `undefined` when this log never
   * held the session (it may be in Redis), `null` when it did but cannot replay it (expired, or
   * the offset is of another epoch or older than what is kept): the client then connects afresh.
   */
  restore(pid: string, offset: string): Session | null | undefined {
    const kept = this.#sessions.get(pid);
    if (!kept) return undefined;
    this.#sessions.delete(pid);
    const after = this.seqOf(offset);
    if (kept.at <= this.now() - this.windowMs || after === undefined || after < this.#epochStart - 1 || after < this.firstSeq() - 1) return null;
    return { ...kept.session, missedPackets: this.missedAfter(after, kept.session.rooms) };
  }

  /**
   * A session restored from the stream (persisted while other instances ran) misses what was
   * sent here since, alone: the whole current epoch, or null when part of it is no longer kept.
   */
  appendEpoch(session: Session): Session | null {
    if (this.firstSeq() > this.#epochStart) return null;
    return { ...session, missedPackets: [...session.missedPackets, ...this.missedAfter(this.#epochStart - 1, session.rooms)] };
  }

  /**
   * Starts a new stretch (alone again, or no longer alone): the packets and sessions kept are
   * dropped, and one sequence number is skipped so that no offset handed out before (a
   * checkpoint of the old epoch included) is ever taken for one of the new epoch.
   */
  newEpoch(): void {
    this.#packets.length = 0;
    this.#head = 0;
    this.#sessions.clear();
    this.#nextSeq++;
    this.#epochStart = this.#nextSeq;
  }

  private seqOf(offset: string): number | undefined {
    const match = OFFSET.exec(offset);
    if (!match || match[1] !== this.id) return undefined;
    const seq = Number(match[2]);
    return seq < this.#nextSeq ? seq : undefined;
  }

  private firstSeq(): number {
    return this.#packets[this.#head]?.seq ?? this.#nextSeq;
  }

  private missedAfter(after: number, rooms: readonly string[]): unknown[][] {
    const missed: unknown[][] = [];
    // Sequence numbers are contiguous within the log: the first packet after `after` is found by arithmetic.
    for (let i = this.#head + Math.max(0, after + 1 - this.firstSeq()); i < this.#packets.length; i++) {
      const packet = this.#packets[i]!;
      const included = packet.rooms.size === 0 || rooms.some((room) => packet.rooms.has(room));
      const excluded = packet.except !== undefined && rooms.some((room) => packet.except!.has(room));
      if (included && !excluded) missed.push(packet.data);
    }
    return missed;
  }

  private evict(now: number): void {
    while (this.#head < this.#packets.length) {
      const oldest = this.#packets[this.#head]!;
      if (this.#packets.length - this.#head <= this.maxPackets && oldest.at > now - this.windowMs) break;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#packets.length) {
      this.#packets.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
