import { BENCH_REPLY } from './fake-provider-protocol.js';
import type { GraphApiAnswerer } from './graph-api-answerer.js';

/** Waiting for replies gives up when none has arrived for this long… */
const REPLY_STALL_MS = 30_000;
/** …or after this long in all. */
const REPLY_WAIT_LIMIT_MS = 300_000;

/** A message as first sent: its wamid, its sender and when the delivery was issued (`performance.now()`). */
export interface FirstDelivery {
  wamid: string;
  from: string;
  issuedAt: number;
}

/**
 * Replies at the Graph API against the distinct messages sent, per sender (a reply names only
 * its recipient). An answer carries the fake model's text; anything else (a failure notice, a
 * handoff notice) is counted apart. The k-th answer to a sender answers that sender's k-th
 * message: all turns wait the same model latency in one FIFO queue, so answers come in the order
 * the messages did.
 */
export class ReplyTracker {
  /** Distinct messages per sender, and how many answers each sender has had so far. */
  readonly #expected = new Map<string, number>();
  readonly #answered = new Map<string, number>();
  #messages = 0;
  #covered = 0;
  #seen = 0;

  constructor(private readonly graph: GraphApiAnswerer) {}

  expect(from: string): void {
    this.#expected.set(from, (this.#expected.get(from) ?? 0) + 1);
    this.#messages++;
  }

  /** Until every message expected so far has an answer and a read receipt; gives up when nothing arrives for REPLY_STALL_MS. */
  async waitForAll(): Promise<{ complete: boolean; waitedMs: number; endedAt: number }> {
    const started = performance.now();
    let lastProgressAt = started;
    let progress = -1;
    for (;;) {
      this.#take();
      const now = performance.now();
      const reads = this.graph.reads.size;
      if (this.#covered >= this.#messages && reads >= this.#messages) return { complete: true, waitedMs: Math.round(now - started), endedAt: now };
      if (this.graph.sends.length + reads !== progress) {
        progress = this.graph.sends.length + reads;
        lastProgressAt = now;
      }
      if (now - lastProgressAt > REPLY_STALL_MS || now - started > REPLY_WAIT_LIMIT_MS) return { complete: false, waitedMs: Math.round(now - started), endedAt: now };
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Every answer matched to its message: counts, and per wamid the time from the first issue to its answer. */
  check(firstDeliveries: readonly FirstDelivery[]) {
    this.#take();
    const bySender = new Map<string, FirstDelivery[]>();
    for (const sent of [...firstDeliveries].sort((a, b) => a.issuedAt - b.issuedAt)) push(bySender, sent.from, sent);
    const answersBySender = new Map<string, number[]>();
    const otherTexts = new Map<string, number>();
    let others = 0;
    let unknownRecipient = 0;
    for (const reply of this.graph.sends) {
      if (!bySender.has(reply.to)) unknownRecipient++;
      if (reply.text === BENCH_REPLY) {
        push(answersBySender, reply.to, reply.at);
      } else {
        others++;
        const text = reply.text.slice(0, 120);
        otherTexts.set(text, (otherTexts.get(text) ?? 0) + 1);
      }
    }
    const replyMs = new Map<string, number>();
    const replyAt = new Map<string, number>();
    let unanswered = 0;
    let extra = 0;
    for (const [from, messages] of bySender) {
      const times = answersBySender.get(from) ?? [];
      messages.forEach((sent, k) => {
        const at = times[k];
        if (at === undefined) return void unanswered++;
        replyAt.set(sent.wamid, at);
        replyMs.set(sent.wamid, at - sent.issuedAt);
      });
      extra += Math.max(0, times.length - messages.length);
    }
    return {
      messages: firstDeliveries.length,
      sends: this.graph.sends.length,
      answers: this.graph.sends.length - others,
      unanswered,
      extra,
      others,
      unknownRecipient,
      // What was sent besides the model's answers (failure and handoff notices), the most frequent first.
      otherTexts: [...otherTexts].sort((a, b) => b[1] - a[1]).slice(0, 5),
      replyMs,
      replyAt,
    };
  }

  #take(): void {
    const sends = this.graph.sends;
    for (; this.#seen < sends.length; this.#seen++) {
      const { to, text } = sends[this.#seen]!;
      if (text !== BENCH_REPLY) continue;
      const answered = (this.#answered.get(to) ?? 0) + 1;
      this.#answered.set(to, answered);
      if (answered <= (this.#expected.get(to) ?? 0)) this.#covered++;
    }
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Read receipts against the wamids sent: each should be marked read once. */
export function readCheck(graph: GraphApiAnswerer, sent: ReadonlyMap<string, string>) {
  let unread = 0;
  let extra = 0;
  let readTwiceOrMore = 0;
  for (const wamid of sent.keys()) {
    const times = graph.reads.get(wamid)?.length ?? 0;
    if (times === 0) unread++;
    if (times > 1) readTwiceOrMore++;
    extra += Math.max(0, times - 1);
  }
  const unknown = [...graph.reads.keys()].filter((wamid) => !sent.has(wamid)).length;
  return { receipts: graph.readCount, distinct: graph.reads.size, unread, extra, readTwiceOrMore, unknown };
}
