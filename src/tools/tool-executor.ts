import { z } from 'zod';
import type { ToolCallRequest } from '../agent/chat-model.js';
import type { ConversationStore } from '../db/conversation-store.js';
import type { ToolCallStatus } from '../db/schema.js';
import { SwitchboardError } from '../errors.js';
import type { PipelineEvents } from '../conversation/pipeline-events.js';
import type { Logger } from '../logger.js';
import type { ToolRegistry } from './tool-registry.js';

export interface ToolCallScope {
  conversationId: string;
  messageId: string;
  channel: string;
  provider: string | null;
  model: string | null;
  step: number;
  signal: AbortSignal;
}

type ToolCallRecord = Omit<Parameters<ConversationStore['startToolCall']>[0], 'status'>;

/** What goes back to the model, and the short summary the client sees. */
export interface ToolCallOutcome {
  name: string;
  status: ToolCallStatus;
  /** JSON text for the model: the result, or `{ "error": ... }` it can read and act on. */
  content: string;
  isError: boolean;
}

/**
 * Runs one model-requested tool call: look up, parse, validate, record, execute,
 * record again. Model output is untrusted, so every failure becomes a readable
 * error for the model instead of an exception that ends the turn.
 */
export class ToolExecutor {
  constructor(
    private readonly registry: ToolRegistry,
    private readonly store: ConversationStore,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
    private readonly events?: PipelineEvents,
  ) {}

  async execute(call: ToolCallRequest, scope: ToolCallScope): Promise<ToolCallOutcome> {
    const idempotencyKey = `${scope.conversationId}:${call.id}`;
    const tool = this.registry.get(call.name);
    const parsedArguments = parseJson(call.arguments);
    const base = {
      conversationId: scope.conversationId,
      messageId: scope.messageId,
      callId: call.id,
      toolName: call.name,
      arguments: parsedArguments.ok ? parsedArguments.value : { unparsed: call.arguments.slice(0, 2000) },
      provider: scope.provider,
      model: scope.model,
      step: scope.step,
      idempotencyKey,
    };

    if (!tool) {
      const message = `unknown tool "${call.name}". Available tools: ${this.registry.names().join(', ') || 'none'}.`;
      return this.reject(base, scope, 'invalid', message);
    }
    if (!parsedArguments.ok) {
      return this.reject(base, scope, 'invalid', `arguments for ${call.name} are not valid JSON: ${parsedArguments.error}`);
    }
    const input = tool.input.safeParse(parsedArguments.value);
    if (!input.success) {
      return this.reject(base, scope, 'invalid', `invalid arguments for ${call.name}: ${z.prettifyError(input.error)}`);
    }

    const row = await this.claim(base);
    if (row.alreadyDone) return row.alreadyDone;

    const started = performance.now();
    const signal = AbortSignal.any([scope.signal, AbortSignal.timeout(this.timeoutMs)]);
    try {
      const result = await tool.execute(input.data, {
        conversationId: scope.conversationId,
        messageId: scope.messageId,
        channel: scope.channel,
        idempotencyKey,
        signal,
      });
      const durationMs = Math.round(performance.now() - started);
      await this.store.finishToolCall(row.id, { status: 'ok', result: result ?? null, durationMs });
      this.announce(row.id, base, scope, 'ok', durationMs);
      return { name: call.name, status: 'ok', content: JSON.stringify(result ?? null), isError: false };
    } catch (error) {
      const durationMs = Math.round(performance.now() - started);
      const message = describeToolFailure(error, signal, this.timeoutMs);
      this.logger.warn({ err: error, tool: call.name, messageId: scope.messageId }, 'tool call failed');
      await this.store.finishToolCall(row.id, { status: 'error', error: message, durationMs });
      this.announce(row.id, base, scope, 'error', durationMs);
      return { name: call.name, status: 'error', content: JSON.stringify({ error: message }), isError: true };
    }
  }

  /**
   * Records the call as running. If the same call (same idempotency key) was already
   * recorded, a finished one is answered from the record instead of running again;
   * an unfinished one (a crash mid-call) runs again with the same key, which the
   * integration uses to deduplicate its side effect.
   */
  private async claim(base: ToolCallRecord): Promise<{ id: string; alreadyDone?: ToolCallOutcome }> {
    const inserted = await this.store.startToolCall({ ...base, status: 'running' });
    if (inserted) return { id: inserted.id };
    const existing = (await this.store.findToolCallByIdempotencyKey(base.idempotencyKey))!;
    if (existing.status === 'running') return { id: existing.id };
    const isError = existing.status !== 'ok';
    const content = isError ? JSON.stringify({ error: existing.error }) : JSON.stringify(existing.result);
    return { id: existing.id, alreadyDone: { name: existing.toolName, status: existing.status, content, isError } };
  }

  private announce(id: string, base: ToolCallRecord, scope: ToolCallScope, status: ToolCallStatus, durationMs: number): void {
    this.events?.emit('tool-call.finished', {
      id,
      conversationId: base.conversationId,
      messageId: base.messageId,
      channel: scope.channel,
      toolName: base.toolName,
      status,
      durationMs,
      provider: base.provider,
    });
  }

  private async reject(
    base: ToolCallRecord,
    scope: ToolCallScope,
    status: ToolCallStatus,
    message: string,
  ): Promise<ToolCallOutcome> {
    const row = await this.store.startToolCall({ ...base, status });
    if (row) {
      await this.store.finishToolCall(row.id, { status, error: message, durationMs: 0 });
      this.announce(row.id, base, scope, status, 0);
    }
    this.logger.info({ tool: base.toolName, status, messageId: base.messageId }, 'tool call rejected');
    return { name: base.toolName, status, content: JSON.stringify({ error: message }), isError: true };
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** A message the model may read: our own errors verbatim, anything else generic (it may hold internals). */
function describeToolFailure(error: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted && signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError') {
    return `the tool did not finish within ${timeoutMs} ms`;
  }
  if (error instanceof SwitchboardError) return error.message;
  return 'the tool failed unexpectedly; try again later or continue without it';
}
