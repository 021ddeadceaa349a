import type { AgentTurnResult } from '../agent/agent.js';
import type { CachedReply } from '../infra/response-cache.js';
import type { TurnOutcome } from '../store/messages.js';
import type { Conversation } from '../store/schema.js';
import type { TurnSettings } from './settings.js';

/** What a turn produced: the ledger record, the tool calls to report, and what to cache once stored. */
export interface TurnResult {
  record: TurnOutcome;
  toolCalls: AgentTurnResult['toolCalls'];
  cacheEntry?: { key: string; reply: CachedReply };
}

/** A first message answered from the reply cache. */
export function cachedResult(hit: CachedReply, latencyMs: number): TurnResult {
  return {
    record: {
      status: 'answered',
      text: hit.text,
      provider: hit.provider,
      model: hit.model,
      cached: true,
      fallback: false,
      fallbackReason: null,
      attempts: [],
      latencyMs,
      inputTokens: null,
      outputTokens: null,
      // No model call, so no cost (the answer it repeats was priced when a model gave it).
      costUsd: null,
    },
    toolCalls: [],
  };
}

/** The fallback reply of this conversation's channel, and why it was given. */
export function fallbackRecord(settings: TurnSettings, conversation: Conversation, reason: string, attempts: unknown, latencyMs: number): TurnOutcome {
  return {
    status: 'fallback',
    text: settings.fallbackReplyByChannel?.[conversation.channel] ?? settings.fallbackReply,
    provider: null,
    model: null,
    cached: false,
    fallback: true,
    fallbackReason: reason,
    attempts,
    latencyMs,
    inputTokens: null,
    outputTokens: null,
    costUsd: null,
  };
}
