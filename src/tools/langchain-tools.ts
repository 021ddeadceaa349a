import { randomUUID } from 'node:crypto';
import { tool, type DynamicStructuredTool } from '@langchain/core/tools';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { ToolCallScope, ToolExecutor } from './tool-executor.js';
import type { ToolRegistry } from './tool-registry.js';

export interface LangChainToolScope {
  /** Default: the default workspace. */
  workspaceId?: string;
  /** An existing conversation and user message: every call is recorded in tool_calls against them. */
  conversationId: string;
  messageId: string;
  /** The channel whose tool policy applies (default 'langchain'). */
  channel?: string;
  signal?: AbortSignal;
}

/**
 * Switchboard's tools as LangChain tools (`@langchain/core` `tool()`), for
 * LangChain / LangGraph agents. Each call goes through the same ToolExecutor as the
 * built-in agent: channel policy, zod validation, confirmation of sensitive calls,
 * idempotency and the tool_calls record. The result is the same JSON text the
 * built-in agent's model reads. The idempotency key comes from the scope's message, the
 * tool and its canonical arguments (step 0), so invoking the same call again never repeats it.
 */
export function toLangChainTools(registry: ToolRegistry, executor: ToolExecutor, scope: LangChainToolScope): DynamicStructuredTool[] {
  const channel = scope.channel ?? 'langchain';
  return registry.specsFor(channel).map(
    (spec) =>
      tool(
        async (input: unknown, config) => {
          const callId = config?.toolCall?.id ?? `lc_${randomUUID()}`;
          const callScope: ToolCallScope = {
            workspaceId: scope.workspaceId ?? DEFAULT_WORKSPACE_ID,
            conversationId: scope.conversationId,
            messageId: scope.messageId,
            channel,
            provider: 'langchain',
            model: null,
            step: 0,
            signal: scope.signal ?? new AbortController().signal,
          };
          const outcome = await executor.execute({ id: callId, name: spec.name, arguments: JSON.stringify(input ?? {}) }, callScope);
          return outcome.content;
        },
        { name: spec.name, description: spec.description, schema: spec.inputSchema as Record<string, unknown> },
      ) as DynamicStructuredTool,
  );
}
