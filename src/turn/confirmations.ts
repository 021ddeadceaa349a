import type { ReplyTarget, ReplyTransport } from './reply-transport.js';
import type { PipelineEvents } from '../observability/events.js';
import type { ConversationStore } from '../store/conversation-store.js';
import type { ToolCall, ToolCallStatus } from '../store/schema.js';
import { SwitchboardError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';
import { runTool } from '../tools/run-tool.js';
import type { AnyTool } from '../tools/tool.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import type { ConfirmationStore, PendingCallRecord } from '../store/confirmation-store.js';

export type ConfirmationDecision = 'confirm' | 'decline';

/** What a channel shows the person: a question with confirm / decline. */
export interface ConfirmationRequest {
  confirmationId: string;
  /** The user message whose turn asked for the call. */
  messageId: string;
  toolName: string;
  summary: string;
  expiresAt: string;
}

export interface ConfirmationResolution {
  confirmationId: string;
  status: ToolCallStatus;
}

/**
 * Optional methods a channel's ReplyTransport implements to show confirmations
 * itself (web: buttons; Slack: interactive buttons). A transport without them still
 * works: the model's reply asks the person, who answers in text (SMS YES/NO).
 */
export interface ConfirmationPrompter {
  requestConfirmation(target: ReplyTarget, request: ConfirmationRequest): Promise<void>;
  confirmationResolved?(target: ReplyTarget, resolution: ConfirmationResolution): Promise<void>;
}

export interface ConfirmationOutcome {
  confirmationId: string;
  toolName: string;
  /** ok / error after running, declined, expired; or the earlier status when it was already answered. */
  status: ToolCallStatus;
  alreadyAnswered: boolean;
  /** The text delivered to the conversation as an assistant message (empty when already answered). */
  text: string;
}

export interface ConfirmationServiceDeps {
  store: ConfirmationStore;
  conversations: ConversationStore;
  registry: ToolRegistry;
  logger: Logger;
  events?: PipelineEvents;
  /** SENSITIVE_TOOLS. */
  sensitiveTools: ReadonlySet<string>;
  ttlMs: number;
  toolTimeoutMs: number;
  /** The channel's transport (the pipeline's lookup), resolved when needed. */
  transportFor(channel: string): ReplyTransport | undefined;
  now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const hasPrompter = (transport: ReplyTransport | undefined): transport is ReplyTransport & ConfirmationPrompter =>
  typeof (transport as Partial<ConfirmationPrompter> | undefined)?.requestConfirmation === 'function';

/**
 * Confirmation of sensitive tool calls, in code rather than in the prompt: the
 * executor holds such a call as `pending`; the person confirms or declines through
 * any channel (`answer`); only a confirmation runs it, with the call's own
 * idempotency key. Calls not answered within the TTL expire.
 */
export class ConfirmationService {
  readonly #now: () => Date;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ConfirmationServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  /** Whether this validated call must wait for the person. */
  requires(tool: AnyTool, input: unknown): boolean {
    if (!this.deps.sensitiveTools.has(tool.name)) return false;
    return tool.confirmation?.required?.(input) ?? true;
  }

  /** Stores the call as pending and shows the question on the channel. Undefined when the call is already recorded. */
  async hold(record: Omit<PendingCallRecord, 'summary' | 'expiresAt'>, tool: AnyTool, input: unknown, channel: string): Promise<ToolCall | undefined> {
    const summary = tool.confirmation?.summary(input) ?? `Run ${tool.name}.`;
    const expiresAt = new Date(this.#now().getTime() + this.deps.ttlMs);
    const row = await this.deps.store.insertPending({ ...record, summary, expiresAt });
    if (!row) return undefined;
    await this.prompt(row, channel).catch((error: unknown) =>
      this.deps.logger.warn({ err: error, confirmationId: row.id }, 'confirmation request not delivered'),
    );
    return row;
  }

  /**
   * The person's answer, from any channel. `confirmationId` may be 'latest' (the
   * newest pending one of the conversation: an SMS "YES"). Confirming runs the tool
   * and delivers its outcome to the conversation as a new assistant message;
   * declining or answering after expiry runs nothing. Answering twice is harmless:
   * the second answer reports the first outcome.
   */
  async answer(conversationId: string, confirmationId: string | 'latest', decision: ConfirmationDecision): Promise<ConfirmationOutcome> {
    // Ids come from channel payloads (a Slack button value): anything not id-shaped matches nothing.
    const wellFormed = confirmationId === 'latest' || UUID.test(confirmationId);
    const row = wellFormed && UUID.test(conversationId) ? await this.deps.store.find(conversationId, confirmationId) : undefined;
    if (!row) {
      throw new SwitchboardError('not_found', confirmationId === 'latest' ? 'nothing is waiting for confirmation' : 'no such confirmation in this conversation');
    }
    if (row.status !== 'pending') return this.alreadyAnswered(row);

    const now = this.#now();
    if (row.confirmationExpiresAt && row.confirmationExpiresAt <= now) {
      const won = await this.expire(row, now);
      return won ? { confirmationId: row.id, toolName: row.toolName, status: 'expired', alreadyAnswered: false, text: won } : this.alreadyAnswered(await this.deps.store.get(row.id) ?? row);
    }
    if (decision === 'decline') {
      if (!(await this.deps.store.decide(row.id, { status: 'declined', decision: 'declined', at: now, error: 'declined by the person' }))) {
        return this.alreadyAnswered((await this.deps.store.get(row.id)) ?? row);
      }
      const text = `Cancelled: ${row.confirmationSummary ?? row.toolName} Nothing was done.`;
      await this.finishAnswer(row, 'declined', text, 0);
      return { confirmationId: row.id, toolName: row.toolName, status: 'declined', alreadyAnswered: false, text };
    }
    if (!(await this.deps.store.decide(row.id, { status: 'running', decision: 'confirmed', at: now }))) {
      return this.alreadyAnswered((await this.deps.store.get(row.id)) ?? row);
    }
    return this.run(row);
  }

  /** Marks every overdue pending call expired and tells its conversation. Returns how many. */
  async expireOverdue(): Promise<number> {
    const now = this.#now();
    let count = 0;
    for (const row of await this.deps.store.listOverdue(now)) {
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
    const now = this.#now();
    const cutoff = new Date(now.getTime() - 2 * this.deps.toolTimeoutMs);
    let count = 0;
    for (const row of await this.deps.store.listInterrupted(cutoff)) {
      if (!(await this.deps.store.reclaim(row, now))) continue;
      this.deps.logger.warn({ confirmationId: row.id, tool: row.toolName }, 'resuming a confirmed tool call interrupted mid-run');
      await this.run(row);
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

  private async run(row: ToolCall): Promise<ConfirmationOutcome> {
    const tool = this.deps.registry.get(row.toolName);
    // Re-validated now: the tool or its limits may have changed, and a slot may have passed, while it waited.
    const input = tool?.input.safeParse(row.arguments);
    let text: string;
    let status: ToolCallStatus;
    let durationMs = 0;
    if (!tool || !input?.success) {
      status = 'error';
      const error = !tool ? `${row.toolName} is no longer available` : `the request is no longer valid: ${input?.error?.issues[0]?.message ?? 'invalid'}`;
      await this.deps.store.finish(row.id, { status, error, durationMs: 0 });
      text = `I could not do it: ${error}.`;
    } else {
      const outcome = await runTool(
        tool,
        input.data,
        {
          conversationId: row.conversationId,
          messageId: row.messageId,
          channel: (await this.deps.conversations.getConversation(row.conversationId))?.channel ?? 'unknown',
          idempotencyKey: row.idempotencyKey,
          signal: new AbortController().signal,
        },
        this.deps.toolTimeoutMs,
      );
      status = outcome.status;
      durationMs = outcome.durationMs;
      if (outcome.status === 'ok') {
        await this.deps.store.finish(row.id, { status: 'ok', result: outcome.result, durationMs: outcome.durationMs });
        text = tool.describeResult ? tool.describeResult(outcome.result) : `Done: ${row.confirmationSummary ?? row.toolName}`;
      } else {
        this.deps.logger.warn({ err: outcome.cause, tool: row.toolName, confirmationId: row.id }, 'confirmed tool call failed');
        await this.deps.store.finish(row.id, { status: 'error', error: outcome.error, durationMs: outcome.durationMs });
        text = `I could not do it: ${outcome.error}.`;
      }
    }
    await this.finishAnswer(row, status, text, durationMs);
    return { confirmationId: row.id, toolName: row.toolName, status, alreadyAnswered: false, text };
  }

  /** Returns the delivered text if this call won the race to expire the row. */
  private async expire(row: ToolCall, now: Date): Promise<string | undefined> {
    const won = await this.deps.store.decide(row.id, { status: 'expired', decision: 'expired', at: now, error: 'not confirmed in time' });
    if (!won) return undefined;
    const text = `This request expired before it was confirmed, so nothing was done: ${row.confirmationSummary ?? row.toolName}`;
    await this.finishAnswer(row, 'expired', text, 0);
    return text;
  }

  private alreadyAnswered(row: ToolCall): ConfirmationOutcome {
    return { confirmationId: row.id, toolName: row.toolName, status: row.status, alreadyAnswered: true, text: '' };
  }

  /** Stores the outcome as an assistant message and delivers it; delivery failures are logged, the row stays right. */
  private async finishAnswer(row: ToolCall, status: ToolCallStatus, text: string, durationMs: number): Promise<void> {
    try {
      const conversation = await this.deps.conversations.getConversation(row.conversationId);
      if (!conversation) return;
      this.announce(row, conversation.channel, status, durationMs);
      const message = await this.deps.store.appendAssistantMessage({ conversationId: conversation.id, text });
      const transport = this.deps.transportFor(conversation.channel);
      const target: ReplyTarget = { conversation, messageId: message.id };
      if (hasPrompter(transport)) await transport.confirmationResolved?.(target, { confirmationId: row.id, status });
      await transport?.done(target, { messageId: message.id, text, fallback: false, cached: false, toolCalls: [{ name: row.toolName, status }] });
    } catch (error) {
      this.deps.logger.error({ err: error, confirmationId: row.id }, 'confirmation outcome not delivered');
    }
  }

  private async prompt(row: ToolCall, channel: string): Promise<void> {
    const transport = this.deps.transportFor(channel);
    if (!hasPrompter(transport)) return;
    const conversation = await this.deps.conversations.getConversation(row.conversationId);
    if (!conversation) return;
    await transport.requestConfirmation(
      { conversation, messageId: row.messageId },
      {
        confirmationId: row.id,
        messageId: row.messageId,
        toolName: row.toolName,
        summary: row.confirmationSummary ?? row.toolName,
        expiresAt: (row.confirmationExpiresAt ?? this.#now()).toISOString(),
      },
    );
  }

  private announce(row: ToolCall, channel: string, status: ToolCallStatus, durationMs: number): void {
    this.deps.events?.emit('tool-call.finished', {
      id: row.id,
      conversationId: row.conversationId,
      messageId: row.messageId,
      channel,
      toolName: row.toolName,
      status,
      durationMs,
      provider: row.provider,
    });
  }
}
