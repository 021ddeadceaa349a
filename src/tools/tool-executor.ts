import { z } from 'zod';
import type { ToolCallRequest } from '../agent/chat-model.js';
import type { ToolCallEvent } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { ToolCall, ToolCallStatus } from '../store/schema.js';
import type { ToolCallRecord, ToolCallRecords } from '../store/tool-calls.js';
import { approvalRequestOf, type ApprovalPolicy, type ApprovalRequest } from './approval.js';
import { toolCallKey } from './idempotency-key.js';
import { runTool } from './run-tool.js';
import type { ToolRegistry } from './tool-registry.js';

export interface ToolCallScope {
  /** The workspace of the turn (one default workspace today). */
  workspaceId: string;
  conversationId: string;
  messageId: string;
  channel: string;
  provider: string | null;
  model: string | null;
  step: number;
  signal: AbortSignal;
}

/** Where the executor records calls: the tool_calls table (a port, so the executor needs no store class). */
export type ToolCallLog = Pick<ToolCallRecords, 'start' | 'finish' | 'findByIdempotencyKey' | 'insertPending'>;

/** What goes back to the model, and the short summary the client sees. */
export interface ToolCallOutcome {
  name: string;
  status: ToolCallStatus;
  /** JSON text for the model: the result, or `{ "error": ... }` it can read and act on. */
  content: string;
  isError: boolean;
  /** Set when the call is held for the person's confirmation: the turn shows this question. */
  approval?: ApprovalRequest;
  /** Set by a tool that ends the turn (request_human): the text the reply closes with. */
  endTurn?: string;
}

/** How a confirmed call ended, and the sentence that tells the person. */
export interface ApprovedRunOutcome {
  status: ToolCallStatus;
  durationMs: number;
  text: string;
}

export interface ToolExecutorDeps {
  registry: ToolRegistry;
  log: ToolCallLog;
  logger: Logger;
  /** TOOL_TIMEOUT_MS. */
  timeoutMs: number;
  /** Holds sensitive calls until the person confirms them; without it every call runs at once. */
  approvals?: ApprovalPolicy;
  /** Told of every recorded outcome (metrics, the admin feed); must not throw. */
  onFinished?: (event: ToolCallEvent) => void;
}

/**
 * Runs one model-requested tool call: look up, check the channel's policy, parse,
 * validate, hold for confirmation if sensitive, record, execute, record again.
 * Model output is untrusted, so every failure becomes a readable error for the
 * model instead of an exception that ends the turn.
 */
export class ToolExecutor {
  private readonly registry: ToolRegistry;
  private readonly store: ToolCallLog;
  private readonly logger: Logger;
  private readonly timeoutMs: number;

  constructor(private readonly deps: ToolExecutorDeps) {
    this.registry = deps.registry;
    this.store = deps.log;
    this.logger = deps.logger;
    this.timeoutMs = deps.timeoutMs;
  }

  async execute(call: ToolCallRequest, scope: ToolCallScope): Promise<ToolCallOutcome> {
    const tool = this.registry.get(call.name);
    const parsedArguments = parseJson(call.arguments);
    const base = recordOf(call, scope, parsedArguments);
    const { idempotencyKey } = base;

    if (!tool) {
      const offered = this.registry.specsFor(scope.channel).map((spec) => spec.name);
      const message = `unknown tool "${call.name}". Available tools: ${offered.join(', ') || 'none'}.`;
      return this.reject(base, scope, 'invalid', message);
    }
    if (!this.registry.policy.allows(scope.channel, tool.name)) {
      this.logger.warn({ tool: tool.name, channel: scope.channel, messageId: scope.messageId }, 'tool refused by channel policy');
      return this.reject(base, scope, 'refused', `${tool.name} is not available on the ${scope.channel} channel; do not offer it here`);
    }
    if (!parsedArguments.ok) {
      return this.reject(base, scope, 'invalid', `arguments for ${call.name} are not valid JSON: ${parsedArguments.error}`);
    }
    const input = tool.input.safeParse(parsedArguments.value);
    if (!input.success) {
      return this.reject(base, scope, 'invalid', `invalid arguments for ${call.name}: ${z.prettifyError(input.error)}`);
    }

    const approvals = this.deps.approvals;
    if (approvals?.requires(tool, input.data)) {
      const held = await this.store.insertPending(approvals.pendingRecord(base, tool, input.data));
      if (held) {
        this.announce(held.id, base, scope, 'pending', 0);
        return { ...awaitingConfirmation(held), approval: approvalRequestOf(held, approvals.now()) };
      }
      // Already recorded under this key (a repeated call): answered from the record below.
    }

    const row = await this.claim(base);
    if (row.alreadyDone) {
      // A replayed turn-ending call ends the replayed turn too.
      const done = row.alreadyDone;
      return done.status === 'ok' && tool.endsTurn ? { ...done, endTurn: tool.endsTurn(JSON.parse(done.content)) } : done;
    }

    const outcome = await runTool(
      tool,
      input.data,
      {
        workspaceId: scope.workspaceId,
        conversationId: scope.conversationId,
        messageId: scope.messageId,
        channel: scope.channel,
        idempotencyKey,
        toolCallId: row.id,
        signal: scope.signal,
      },
      this.timeoutMs,
    );
    if (outcome.status === 'ok') {
      await this.store.finish(row.id, { status: 'ok', result: outcome.result, durationMs: outcome.durationMs });
      this.announce(row.id, base, scope, 'ok', outcome.durationMs);
      return {
        name: call.name,
        status: 'ok',
        content: JSON.stringify(outcome.result),
        isError: false,
        ...(tool.endsTurn && { endTurn: tool.endsTurn(outcome.result) }),
      };
    }
    this.logger.warn({ err: outcome.cause, tool: call.name, messageId: scope.messageId }, 'tool call failed');
    await this.store.finish(row.id, { status: 'error', error: outcome.error, durationMs: outcome.durationMs });
    this.announce(row.id, base, scope, 'error', outcome.durationMs);
    return { name: call.name, status: 'error', content: JSON.stringify({ error: outcome.error }), isError: true };
  }

  /**
   * A call the turn refuses without running it (the same call again within a turn): recorded as
   * `refused` with `error`, which the model reads. Its key is its own (a refused call never stands
   * for the call it repeats), and the same for a replay of the turn, which records it once.
   */
  async refuse(call: ToolCallRequest, scope: ToolCallScope, error: string): Promise<ToolCallOutcome> {
    const base = recordOf(call, scope, parseJson(call.arguments));
    return this.reject({ ...base, idempotencyKey: `${base.idempotencyKey}:refused:${call.id}` }, scope, 'refused', error);
  }

  /**
   * Records the call as running. If the same call (same idempotency key) was already
   * recorded, a finished one is answered from the record instead of running again;
   * an unfinished one (a crash mid-call) runs again with the same key, which the
   * integration uses to deduplicate its side effect.
   */
  private async claim(base: ToolCallRecord): Promise<{ id: string; alreadyDone?: ToolCallOutcome }> {
    const inserted = await this.store.start({ ...base, status: 'running' });
    if (inserted) return { id: inserted.id };
    const existing = (await this.store.findByIdempotencyKey(base.idempotencyKey))!;
    if (existing.status === 'running' && existing.confirmationDecision === null) return { id: existing.id };
    if (existing.status === 'pending') return { id: existing.id, alreadyDone: awaitingConfirmation(existing) };
    if (existing.status === 'running') {
      // Confirmed and running right now on behalf of the person: never a second run.
      const content = JSON.stringify({ status: 'confirmed_and_running', summary: existing.confirmationSummary });
      return { id: existing.id, alreadyDone: { name: existing.toolName, status: 'running', content, isError: false } };
    }
    const isError = existing.status !== 'ok';
    const content = isError ? JSON.stringify({ error: existing.error }) : JSON.stringify(existing.result);
    return { id: existing.id, alreadyDone: { name: existing.toolName, status: existing.status, content, isError } };
  }

  /**
   * Runs a call the person confirmed (already moved to `running` by their decision), on the
   * same path as every call: re-validated now (the tool or its limits may have changed, and a
   * slot may have passed, while it waited), run under the timeout and the shutdown signal,
   * with the call's own idempotency key, and recorded.
   */
  async runApproved(row: ToolCall, context: { channel: string; signal: AbortSignal }): Promise<ApprovedRunOutcome> {
    const scope = { channel: context.channel };
    const tool = this.registry.get(row.toolName);
    const input = tool?.input.safeParse(row.arguments);
    if (!tool || !input?.success) {
      const error = !tool ? `${row.toolName} is no longer available` : `the request is no longer valid: ${input?.error?.issues[0]?.message ?? 'invalid'}`;
      await this.store.finish(row.id, { status: 'error', error, durationMs: 0 });
      this.announce(row.id, row, scope, 'error', 0, 'running');
      return { status: 'error', durationMs: 0, text: `I could not do it: ${error}.` };
    }
    const outcome = await runTool(
      tool,
      input.data,
      {
        workspaceId: row.workspaceId,
        conversationId: row.conversationId,
        messageId: row.messageId,
        channel: context.channel,
        idempotencyKey: row.idempotencyKey,
        toolCallId: row.id,
        signal: context.signal,
      },
      this.timeoutMs,
    );
    if (outcome.status === 'ok') {
      await this.store.finish(row.id, { status: 'ok', result: outcome.result, durationMs: outcome.durationMs });
      this.announce(row.id, row, scope, 'ok', outcome.durationMs, 'running');
      const text = tool.describeResult ? tool.describeResult(outcome.result) : `Done: ${row.confirmationSummary ?? row.toolName}`;
      return { status: 'ok', durationMs: outcome.durationMs, text };
    }
    this.logger.warn({ err: outcome.cause, tool: row.toolName, confirmationId: row.id }, 'confirmed tool call failed');
    await this.store.finish(row.id, { status: 'error', error: outcome.error, durationMs: outcome.durationMs });
    this.announce(row.id, row, scope, 'error', outcome.durationMs, 'running');
    return { status: 'error', durationMs: outcome.durationMs, text: `I could not do it: ${outcome.error}.` };
  }

  private announce(
    id: string,
    base: Pick<ToolCallRecord, 'conversationId' | 'messageId' | 'toolName' | 'provider'>,
    scope: { channel: string },
    status: ToolCallStatus,
    durationMs: number,
    /** A confirmed call's outcome: observers heard of it as `running` (a status change, not a new call). */
    previousStatus?: ToolCallStatus,
  ): void {
    this.deps.onFinished?.({
      id,
      conversationId: base.conversationId,
      messageId: base.messageId,
      channel: scope.channel,
      toolName: base.toolName,
      status,
      durationMs,
      provider: base.provider,
      ...(previousStatus && { previousStatus }),
    });
  }

  private async reject(
    base: ToolCallRecord,
    scope: ToolCallScope,
    status: ToolCallStatus,
    message: string,
  ): Promise<ToolCallOutcome> {
    const row = await this.store.start({ ...base, status });
    if (row) {
      await this.store.finish(row.id, { status, error: message, durationMs: 0 });
      this.announce(row.id, base, scope, status, 0);
    }
    this.logger.info({ tool: base.toolName, status, messageId: base.messageId }, 'tool call rejected');
    return { name: base.toolName, status, content: JSON.stringify({ error: message }), isError: true };
  }
}

/** What the model reads for a held call: nothing happened yet, and what to tell the person. */
function awaitingConfirmation(row: ToolCall): ToolCallOutcome {
  const content = JSON.stringify({
    status: 'awaiting_confirmation',
    confirmationId: row.id,
    summary: row.confirmationSummary,
    expiresAt: row.confirmationExpiresAt?.toISOString() ?? null,
    note: 'Nothing has been done yet. Tell the person what will happen and ask them to confirm or decline (a button in the chat, or a YES / NO reply). The result is sent to them once they confirm.',
  });
  return { name: row.toolName, status: 'pending', content, isError: false };
}

/** The tool_calls row of a call, before its outcome; its key is made from what the turn knows (idempotency-key.ts). */
function recordOf(call: ToolCallRequest, scope: ToolCallScope, parsedArguments: ReturnType<typeof parseJson>): ToolCallRecord {
  return {
    conversationId: scope.conversationId,
    messageId: scope.messageId,
    callId: call.id,
    toolName: call.name,
    arguments: parsedArguments.ok ? parsedArguments.value : { unparsed: call.arguments.slice(0, 2000) },
    provider: scope.provider,
    model: scope.model,
    step: scope.step,
    idempotencyKey: toolCallKey({
      messageId: scope.messageId,
      step: scope.step,
      toolName: call.name,
      arguments: parsedArguments.ok ? parsedArguments.value : call.arguments,
    }),
  };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
