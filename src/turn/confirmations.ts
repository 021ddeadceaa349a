import { SwitchboardError } from '../errors/index.js';
import type { PipelineEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { Conversation, ToolCall, ToolCallStatus } from '../store/schema.js';
import { approvalRequestOf, type ApprovalRequest } from '../tools/approval.js';
import type { ToolExecutor } from '../tools/tool-executor.js';
import type { InFlight } from './in-flight.js';
import type { ReplyDelivery } from './reply-delivery.js';

export type ConfirmationDecision = 'confirm' | 'decline';

export interface ConfirmationOutcome {
  confirmationId: string;
  toolName: string;
  /** ok / error after running, declined, expired; or the earlier status when it was already answered. */
  status: ToolCallStatus;
  alreadyAnswered: boolean;
  /** The text delivered to the conversation as an assistant message (empty when already answered). */
  text: string;
}

export interface AnswerOptions {
  /**
   * Resolve once a confirmation is recorded (status `running`) instead of when the call has run:
   * for answers whose sender retries on a short timeout (a typed YES on the web). The outcome
   * still reaches the person as a reply.
   */
  untilDecided?: boolean;
}

/** A conversation's confirmations as a returning person is shown them. */
export interface ConfirmationStates {
  waiting: ApprovalRequest[];
  decided: { confirmationId: string; status: ToolCallStatus }[];
}

export interface ConfirmationServiceDeps {
  store: Store;
  /** The executor of the workspace a held call belongs to (its tools, its credentials). */
  executorFor: (workspaceId: string) => ToolExecutor | Promise<ToolExecutor>;
  delivery: ReplyDelivery;
  inFlight: InFlight;
  events: PipelineEvents;
  logger: Logger;
  /** TOOL_TIMEOUT_MS: a confirmed call still running after twice this long was interrupted. */
  toolTimeoutMs: number;
  now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The person's answers to held sensitive calls, from any channel. The executor holds such
 * a call as `pending` (approval is data: see tools/approval.ts); only a confirmation runs
 * it, through the executor's own path, with the call's own idempotency key and the
 * process's shutdown signal. Calls not answered within the TTL expire. Every outcome
 * reaches the person through the one reply-delivery path.
 */
export class ConfirmationService {
  readonly #now: () => Date;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ConfirmationServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  /**
   * `confirmationId` may be 'latest' (the newest pending one of the conversation: an SMS
   * "YES"). Confirming runs the tool and delivers its outcome to the conversation as a new
   * assistant message; declining or answering after expiry runs nothing. Answering twice
   * is harmless: the second answer reports the first outcome.
   */
  async answer(
    conversationId: string,
    confirmationId: string | 'latest',
    decision: ConfirmationDecision,
    options: AnswerOptions = {},
  ): Promise<ConfirmationOutcome> {
    const calls = this.deps.store.toolCalls;
    // Ids come from channel payloads (a Slack button value): anything not id-shaped matches nothing.
    const wellFormed = confirmationId === 'latest' || UUID.test(confirmationId);
    const row = wellFormed && UUID.test(conversationId) ? await calls.find(conversationId, confirmationId) : undefined;
    if (!row) {
      throw new SwitchboardError('not_found', confirmationId === 'latest' ? 'nothing is waiting for confirmation' : 'no such confirmation in this conversation');
    }
    if (row.status !== 'pending') return alreadyAnswered(row);

    const now = this.#now();
    if (row.confirmationExpiresAt && row.confirmationExpiresAt <= now) {
      const won = await this.expire(row, now);
      return won ? { confirmationId: row.id, toolName: row.toolName, status: 'expired', alreadyAnswered: false, text: won } : alreadyAnswered((await calls.get(row.id)) ?? row);
    }
    if (decision === 'decline') {
      if (!(await calls.decide(row.id, { status: 'declined', decision: 'declined', at: now, error: 'declined by the person' }))) {
        return alreadyAnswered((await calls.get(row.id)) ?? row);
      }
      const text = `Cancelled: ${row.confirmationSummary ?? row.toolName} Nothing was done.`;
      await this.finishUnrun(row, 'declined', text);
      return { confirmationId: row.id, toolName: row.toolName, status: 'declined', alreadyAnswered: false, text };
    }
    if (!(await calls.decide(row.id, { status: 'running', decision: 'confirmed', at: now }))) {
      return alreadyAnswered((await calls.get(row.id)) ?? row);
    }
    const running = this.deps.inFlight.track(this.run(row, { confirmedNow: true }));
    if (!options.untilDecided) return running;
    running.catch((error: unknown) => this.deps.logger.error({ err: error, confirmationId: row.id }, 'confirmed tool call failed to finish'));
    return { confirmationId: row.id, toolName: row.toolName, status: 'running', alreadyAnswered: false, text: '' };
  }

  /**
   * Where a conversation's confirmations stand, for a person coming back (a reload): every
   * pending one as its question, and each of `shownIds` (those their client still shows as
   * waiting) that was decided meanwhile as its resolution. A pending one past its expiry is
   * reported expired: answering it now would expire it.
   */
  async statesFor(conversationId: string, shownIds: readonly string[]): Promise<ConfirmationStates> {
    const now = this.#now();
    const states: ConfirmationStates = { waiting: [], decided: [] };
    if (!UUID.test(conversationId)) return states;
    const ids = shownIds.filter((id) => UUID.test(id));
    for (const row of await this.deps.store.toolCalls.confirmationsToShow(conversationId, ids)) {
      const overdue = row.status === 'pending' && row.confirmationExpiresAt !== null && row.confirmationExpiresAt <= now;
      if (row.status === 'pending' && !overdue) states.waiting.push(approvalRequestOf(row, now));
      else if (ids.includes(row.id)) states.decided.push({ confirmationId: row.id, status: overdue ? 'expired' : row.status });
    }
    return states;
  }

  /** Marks every overdue pending call expired and tells its conversation. Returns how many. */
  async expireOverdue(): Promise<number> {
    const now = this.#now();
    let count = 0;
    for (const row of await this.deps.store.toolCalls.listOverdue(now)) {
      if (await this.expire(row, now)) count++;
    }
    return count;
  }

  /**
   * Runs again the confirmed calls whose process died mid-run (still `running` long
   * after the tool timeout). Safe because the run reuses the call's idempotency key:
   * the integration returns what the first run created instead of creating it twice.
   */
  async resumeInterrupted(): Promise<number> {
    const calls = this.deps.store.toolCalls;
    const now = this.#now();
    const cutoff = new Date(now.getTime() - 2 * this.deps.toolTimeoutMs);
    let count = 0;
    for (const row of await calls.listInterrupted(cutoff)) {
      if (!(await calls.reclaim(row, now))) continue;
      this.deps.logger.warn({ confirmationId: row.id, tool: row.toolName }, 'resuming a confirmed tool call interrupted mid-run');
      await this.deps.inFlight.track(this.run(row));
      count++;
    }
    return count;
  }

  /** Expires overdue calls and resumes interrupted ones every `intervalMs` (answers are also checked on arrival). */
  startSweeper(intervalMs: number): void {
    this.stopSweeper();
    this.#sweeper = setInterval(() => {
      this.expireOverdue()
        .then(() => this.resumeInterrupted())
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'confirmation sweep failed'));
    }, intervalMs);
    this.#sweeper.unref();
  }

  stopSweeper(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** `confirmedNow`: the person's decision just moved the row from pending to running (a resumed run changes no status). */
  private async run(row: ToolCall, options: { confirmedNow?: boolean } = {}): Promise<ConfirmationOutcome> {
    const conversation = await this.deps.store.conversations.getConversation(row.conversationId);
    if (options.confirmedNow) {
      this.deps.events.emit('tool-call.confirmed', {
        id: row.id,
        conversationId: row.conversationId,
        messageId: row.messageId,
        channel: conversation?.channel ?? 'unknown',
        toolName: row.toolName,
        status: 'running',
        durationMs: 0,
        provider: row.provider,
        previousStatus: 'pending',
      });
    }
    const executor = await this.deps.executorFor(row.workspaceId);
    const outcome = await executor.runApproved(row, { channel: conversation?.channel ?? 'unknown', signal: this.deps.inFlight.signal });
    if (conversation) await this.deliver(conversation, row, outcome.status, outcome.text);
    return { confirmationId: row.id, toolName: row.toolName, status: outcome.status, alreadyAnswered: false, text: outcome.text };
  }

  /** Returns the delivered text if this call won the race to expire the row. */
  private async expire(row: ToolCall, now: Date): Promise<string | undefined> {
    const won = await this.deps.store.toolCalls.decide(row.id, { status: 'expired', decision: 'expired', at: now, error: 'not confirmed in time' });
    if (!won) return undefined;
    const text = `This request expired before it was confirmed, so nothing was done: ${row.confirmationSummary ?? row.toolName}`;
    await this.finishUnrun(row, 'expired', text);
    return text;
  }

  /** A declined or expired call: observers hear of it, and the person is told nothing was done. */
  private async finishUnrun(row: ToolCall, status: ToolCallStatus, text: string): Promise<void> {
    const conversation = await this.deps.store.conversations.getConversation(row.conversationId);
    if (!conversation) return;
    this.deps.events.emit('tool-call.finished', {
      id: row.id,
      conversationId: row.conversationId,
      messageId: row.messageId,
      channel: conversation.channel,
      toolName: row.toolName,
      status,
      durationMs: 0,
      provider: row.provider,
      previousStatus: 'pending',
    });
    await this.deliver(conversation, row, status, text);
  }

  /** Delivery failures are logged; the row stays right either way. */
  private async deliver(conversation: Conversation, row: ToolCall, status: ToolCallStatus, text: string): Promise<void> {
    const log = this.deps.logger.child({ confirmationId: row.id, conversationId: conversation.id });
    await this.deps.delivery
      .deliverToolOutcome(conversation, { confirmationId: row.id, toolName: row.toolName, status }, text, log)
      .catch((error: unknown) => log.error({ err: error }, 'confirmation outcome not delivered'));
  }
}

function alreadyAnswered(row: ToolCall): ConfirmationOutcome {
  return { confirmationId: row.id, toolName: row.toolName, status: row.status, alreadyAnswered: true, text: '' };
}
