import { runAgentTurn, type AgentTurnResult } from '../agent/agent.js';
import type { ChatMessage } from '../agent/chat-model.js';
import { AllProvidersFailedError, type ModelChain } from '../agent/model-chain.js';
import type { ConversationStore, TurnOutcome } from '../db/conversation-store.js';
import type { Conversation, Message } from '../db/schema.js';
import { SwitchboardError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ToolExecutor } from '../tools/tool-executor.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import { inboundMessageSchema, type InboundMessage } from './inbound-message.js';
import type { PipelineEvents } from './pipeline-events.js';
import type { ReplyTarget, ReplyTransport } from './reply-transport.js';

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface PipelineSettings {
  systemPrompt: string;
  maxToolSteps: number;
  maxMessageChars: number;
  historyCharBudget: number;
  maxOutputTokens: number;
  fallbackReply: string;
}

export interface AcceptResult {
  messageId: string;
  conversationId: string;
  duplicate: boolean;
}

/**
 * The channel-agnostic path of a message: validate, store, run the agent turn,
 * store the reply, deliver it through the channel's transport. An accepted message
 * always ends answered, or answered with the fallback reply, and its row says which.
 */
export class MessagePipeline {
  readonly #transports = new Map<string, ReplyTransport>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #accepting = true;

  constructor(
    private readonly deps: {
      store: ConversationStore;
      chain: ModelChain;
      tools: ToolRegistry;
      executor: ToolExecutor;
      settings: PipelineSettings;
      logger: Logger;
      events: PipelineEvents;
    },
  ) {}

  registerTransport(transport: ReplyTransport): void {
    this.#transports.set(transport.channel, transport);
  }

  /** Checks the text against the limits; throws a SwitchboardError with a precise code. */
  validateText(text: string): string {
    const trimmed = text.trim();
    if (trimmed.length === 0) throw new SwitchboardError('empty_message', 'message text is empty');
    if (trimmed.length > this.deps.settings.maxMessageChars) {
      throw new SwitchboardError(
        'message_too_long',
        `message is ${trimmed.length} characters; the limit is ${this.deps.settings.maxMessageChars}`,
      );
    }
    return trimmed;
  }

  /**
   * Stores the message and starts its turn. Resolves once the message is durably
   * accepted (the turn continues in the background); a duplicate is acknowledged
   * with the original id and not answered again.
   */
  async accept(input: InboundMessage, conversation?: Conversation): Promise<AcceptResult> {
    if (!this.#accepting) throw new SwitchboardError('shutting_down', 'the server is shutting down; try again shortly');
    const inbound = inboundMessageSchema.parse(input);
    const text = this.validateText(inbound.text);
    const target =
      conversation ??
      (inbound.conversationId
        ? await this.deps.store.getConversation(inbound.conversationId)
        : await this.deps.store.findOrCreateConversation(inbound));
    if (!target) throw new SwitchboardError('not_found', 'conversation not found');

    const accepted = await this.deps.store.acceptMessage({
      conversationId: target.id,
      text,
      ...(inbound.externalMessageId !== undefined && { externalMessageId: inbound.externalMessageId }),
    });
    if (!accepted.duplicate) {
      this.deps.events.emit('message.accepted', { message: accepted.message, conversation: target });
      // Start on the next macrotask, so the channel's acknowledgement always reaches the
      // client before the first reply event (an embedded database can answer synchronously fast).
      this.track(nextMacrotask().then(() => this.runTurn(accepted.message, target)));
    }
    return { messageId: accepted.message.id, conversationId: target.id, duplicate: accepted.duplicate };
  }

  /** Stops accepting new messages and waits for turns in flight; after `timeoutMs` they are aborted. */
  async drain(timeoutMs: number): Promise<void> {
    this.#accepting = false;
    const all = Promise.allSettled([...this.#inFlight]);
    const timer = setTimeout(() => this.#abort.abort(new SwitchboardError('shutting_down', 'shutdown timeout')), timeoutMs);
    await all;
    clearTimeout(timer);
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  private track(turn: Promise<void>): void {
    this.#inFlight.add(turn);
    void turn.finally(() => this.#inFlight.delete(turn));
  }

  private async runTurn(message: Message, conversation: Conversation): Promise<void> {
    const { store, logger } = this.deps;
    const log = logger.child({ messageId: message.id, conversationId: conversation.id, channel: conversation.channel });
    const transport = this.#transports.get(conversation.channel);
    const target: ReplyTarget = { conversation, messageId: message.id };
    const started = performance.now();
    try {
      await store.setMessageStatus(message.id, 'processing');
      const outcome = await this.produceReply(message, conversation, target, transport, started, log);
      const reply = await store.completeTurn(message, outcome.record);
      this.deps.events.emit('turn.finished', { message, conversation, outcome: outcome.record });
      log.info({ status: outcome.record.status, provider: outcome.record.provider, latencyMs: outcome.record.latencyMs }, 'turn finished');
      await transport?.done(target, {
        messageId: message.id,
        text: reply.text,
        fallback: outcome.record.fallback,
        cached: outcome.record.cached,
        toolCalls: outcome.toolCalls,
      });
    } catch (error) {
      log.error({ err: error }, 'turn could not be completed');
      await transport
        ?.failed?.(target, { code: 'internal_error', message: 'the reply could not be produced; please try again' })
        .catch((deliveryError: unknown) => log.error({ err: deliveryError }, 'failure notice not delivered'));
    }
  }

  private async produceReply(
    message: Message,
    conversation: Conversation,
    target: ReplyTarget,
    transport: ReplyTransport | undefined,
    started: number,
    log: Logger,
  ): Promise<{ record: TurnOutcome; toolCalls: AgentTurnResult['toolCalls'] }> {
    const { store, chain, tools, executor, settings } = this.deps;
    const elapsed = () => Math.round(performance.now() - started);
    const fallback = (reason: string, attempts: unknown) => {
      transport?.discard?.(target);
      return {
        record: {
          status: 'fallback' as const,
          text: settings.fallbackReply,
          provider: null,
          model: null,
          cached: false,
          fallback: true,
          fallbackReason: reason,
          attempts,
          latencyMs: elapsed(),
          inputTokens: null,
          outputTokens: null,
        },
        toolCalls: [],
      };
    };

    if (chain.isEmpty) return fallback('no_provider_configured', []);

    const history = await store.loadHistory(conversation.id, message, settings.historyCharBudget);
    const chatHistory: ChatMessage[] = [
      ...history.map((entry) => ({ role: entry.role, content: entry.text })),
      { role: 'user', content: message.text },
    ];
    try {
      const result = await runAgentTurn(chain, {
        system: settings.systemPrompt,
        history: chatHistory,
        tools: tools.specs(),
        maxSteps: settings.maxToolSteps,
        maxOutputTokens: settings.maxOutputTokens,
        signal: this.#abort.signal,
        executeTool: (call, context) =>
          executor.execute(call, {
            conversationId: conversation.id,
            messageId: message.id,
            channel: conversation.channel,
            provider: context.provider,
            model: context.model,
            step: context.step,
            signal: this.#abort.signal,
          }),
        stream: {
          onTextDelta: (delta) => transport?.delta?.(target, delta),
          onDiscard: () => transport?.discard?.(target),
        },
      });
      return {
        record: {
          status: 'answered',
          text: result.text,
          provider: result.provider,
          model: result.model,
          cached: false,
          fallback: false,
          fallbackReason: null,
          attempts: result.attempts,
          latencyMs: elapsed(),
          inputTokens: result.inputTokens,
          outputTokens: result.outputTokens,
        },
        toolCalls: result.toolCalls,
      };
    } catch (error) {
      if (error instanceof AllProvidersFailedError) return fallback('all_providers_failed', error.attempts);
      // Anything else is our bug or the database; the person still gets an answer.
      log.error({ err: error }, 'agent turn failed unexpectedly');
      return fallback('internal_error', []);
    }
  }
}
