import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { STEP_LIMIT_REPLY, runAgentTurn, type AgentTurnInput, type ExecutedToolCall } from '../src/agent/agent.js';
import type { ToolCallRequest } from '../src/agent/chat-model.js';
import { DEFAULT_CHAIN_POLICY } from '../src/agent/chain-policy.js';
import { ModelChain } from '../src/agent/model-chain.js';
import { ProviderError, ToolExecutionError } from '../src/errors/index.js';
import { createLogger } from '../src/observability/logger.js';
import { runTool } from '../src/tools/run-tool.js';
import { defineTool } from '../src/tools/tool.js';
import { ScriptedModel } from './helpers/scripted-model.js';

const logger = createLogger({ level: 'silent' });
const chainOf = (...models: ScriptedModel[]) =>
  new ModelChain(models, logger, { policy: { ...DEFAULT_CHAIN_POLICY, retries: 0, firstTokenTimeoutMs: 1000, fallbackAfterMs: 2000 } });

const call = (id: string, name: string, args: unknown): ToolCallRequest => ({ id, name, arguments: JSON.stringify(args) });

/** A real tool run through the real runTool, so a thrown error becomes the text the model reads. */
const lookupOrder = defineTool({
  name: 'lookup_order',
  description: 'Looks up an order.',
  input: z.object({ orderId: z.string() }).strict(),
  async execute({ orderId }) {
    if (orderId === 'missing') throw new ToolExecutionError(`order ${orderId} does not exist`);
    if (orderId === 'crash') throw new Error('ECONNRESET db-internal-host:5432');
    return { orderId, status: 'shipped' };
  },
});

function turnInput(overrides: Partial<AgentTurnInput> = {}) {
  const streamed: string[] = [];
  const executed: { call: ToolCallRequest; step: number; provider: string }[] = [];
  const input: AgentTurnInput = {
    system: 'be brief',
    history: [{ role: 'user', content: 'where is my order?' }],
    tools: [{ name: 'lookup_order', description: 'Looks up an order.', inputSchema: { type: 'object' } }],
    maxSteps: 4,
    maxOutputTokens: 64,
    signal: new AbortController().signal,
    async executeTool(toolCall, context): Promise<ExecutedToolCall> {
      executed.push({ call: toolCall, step: context.step, provider: context.provider });
      const run = await runTool(
        lookupOrder,
        JSON.parse(toolCall.arguments),
        { conversationId: 'c1', messageId: 'm1', channel: 'web', idempotencyKey: toolCall.id, toolCallId: toolCall.id, signal: input.signal },
        1000,
      );
      return run.status === 'ok'
        ? { name: toolCall.name, status: 'ok', content: JSON.stringify(run.result), isError: false }
        : { name: toolCall.name, status: 'error', content: run.error, isError: true };
    },
    stream: { onTextDelta: (delta) => streamed.push(delta), onDiscard: () => streamed.push('<discard>') },
    ...overrides,
  };
  return { input, streamed, executed };
}

describe('runAgentTurn', () => {
  it('runs the tools the model asks for and feeds the results back until it answers', async () => {
    const model = new ScriptedModel('p', [
      { text: 'Let me check.', toolCalls: [call('t1', 'lookup_order', { orderId: 'ord_1' })], usage: { inputTokens: 100, outputTokens: 10 } },
      { text: 'It has shipped.', usage: { inputTokens: 150, outputTokens: 7 } },
    ]);
    const { input, streamed, executed } = turnInput();

    const result = await runAgentTurn(chainOf(model), input);

    expect(executed).toEqual([{ call: call('t1', 'lookup_order', { orderId: 'ord_1' }), step: 0, provider: 'p' }]);
    expect(model.requests[1]!.messages).toEqual([
      { role: 'user', content: 'where is my order?' },
      { role: 'assistant', content: 'Let me check.', toolCalls: [call('t1', 'lookup_order', { orderId: 'ord_1' })] },
      { role: 'tool', toolCallId: 't1', toolName: 'lookup_order', content: '{"orderId":"ord_1","status":"shipped"}', isError: false },
    ]);
    expect(result).toMatchObject({
      text: 'Let me check.\n\nIt has shipped.',
      steps: 2,
      stoppedBy: 'answer',
      provider: 'p',
      toolCalls: [{ name: 'lookup_order', status: 'ok' }],
      inputTokens: 250,
      outputTokens: 17,
    });
    // The separator goes between steps on the client too.
    expect(streamed.join('')).toBe('Let me check.\n\nIt has shipped.');
  });

  it('runs several calls of one step in order, each answered by its own result', async () => {
    const model = new ScriptedModel('p', [
      { toolCalls: [call('a', 'lookup_order', { orderId: 'ord_1' }), call('b', 'lookup_order', { orderId: 'ord_2' })] },
      { text: 'Both shipped.' },
    ]);
    const { input, executed } = turnInput();

    await runAgentTurn(chainOf(model), input);

    expect(executed.map((entry) => entry.call.id)).toEqual(['a', 'b']);
    const toolMessages = model.requests[1]!.messages.filter((message) => message.role === 'tool');
    expect(toolMessages.map((message) => message.toolCallId)).toEqual(['a', 'b']);
  });

  it('stops at the step cap and says so when the model never answered in text', async () => {
    // Other arguments each time: the same call a third time would be refused (tool-repeat-guard.test.ts).
    const model = new ScriptedModel('p', [1, 2, 3].map((n) => ({ toolCalls: [call(`t${n}`, 'lookup_order', { orderId: `ord_${n}` })] })));
    const { input, streamed, executed } = turnInput({ maxSteps: 3 });

    const result = await runAgentTurn(chainOf(model), input);

    expect(model.calls).toBe(3);
    expect(executed).toHaveLength(3);
    expect(result).toMatchObject({ stoppedBy: 'step-limit', steps: 3, text: STEP_LIMIT_REPLY });
    expect(streamed).toEqual([STEP_LIMIT_REPLY]);
  });

  it('keeps the text already streamed, instead of the step-limit reply, when the cap is hit after some', async () => {
    const model = new ScriptedModel('p', [{ text: 'Checking…', toolCalls: [call('t', 'lookup_order', { orderId: 'ord_1' })] }]);
    const { input } = turnInput({ maxSteps: 2 });

    const result = await runAgentTurn(chainOf(model), input);

    expect(result).toMatchObject({ stoppedBy: 'step-limit', text: 'Checking…\n\nChecking…' });
  });

  it('hands a failing tool’s error to the model as a result it reads, and the turn goes on', async () => {
    const model = new ScriptedModel('p', [
      { toolCalls: [call('t1', 'lookup_order', { orderId: 'missing' }), call('t2', 'lookup_order', { orderId: 'crash' })] },
      { text: 'I could not find that order.' },
    ]);
    const { input } = turnInput();

    const result = await runAgentTurn(chainOf(model), input);

    const [missing, crash] = model.requests[1]!.messages.filter((message) => message.role === 'tool');
    expect(missing).toMatchObject({ isError: true, content: 'order missing does not exist' });
    // An unexpected error reaches the model as generic text: its message may hold internals.
    expect(crash).toMatchObject({ isError: true, content: 'the tool failed unexpectedly; try again later or continue without it' });
    expect(JSON.stringify(model.requests[1]!.messages)).not.toContain('db-internal-host');
    expect(result).toMatchObject({ stoppedBy: 'answer', text: 'I could not find that order.', toolCalls: [{ status: 'error' }, { status: 'error' }] });
  });

  it('continues a turn on the next provider after a failure, telling the client to discard and re-showing kept text', async () => {
    const first = new ScriptedModel('first', [
      { text: 'Checking.', toolCalls: [call('t1', 'lookup_order', { orderId: 'ord_1' })] },
      { fail: new ProviderError({ provider: 'first', kind: 'server', message: 'HTTP 500', status: 500 }), afterText: 'It ha' },
    ]);
    const second = new ScriptedModel('second', [{ text: 'It has shipped.' }]);
    const { input, streamed, executed } = turnInput();

    const result = await runAgentTurn(chainOf(first, second), input);

    // The tool already ran on the first provider; the second gets the same messages and does not run it again.
    expect(executed).toHaveLength(1);
    expect(second.requests[0]!.messages).toEqual(first.requests[1]!.messages);
    expect(streamed).toEqual(['Checking.', '\n\n', 'It ha', '<discard>', 'Checking.', '\n\n', 'It has shipped.']);
    expect(result).toMatchObject({ provider: 'second', text: 'Checking.\n\nIt has shipped.', steps: 2 });
  });

  it('stops when the caller aborts: the model sees the abort and no further tool runs', async () => {
    const controller = new AbortController();
    const model = new ScriptedModel('p', [
      { toolCalls: [call('t1', 'lookup_order', { orderId: 'ord_1' })] },
      { text: 'never shown' },
    ]);
    const { input, streamed, executed } = turnInput({ signal: controller.signal });
    const execute = input.executeTool;
    input.executeTool = async (toolCall, context) => {
      const executedCall = await execute(toolCall, context);
      controller.abort(new Error('the person left'));
      return executedCall;
    };

    const failure = await runAgentTurn(chainOf(model), input).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ProviderError);
    expect((failure as ProviderError).kind).toBe('aborted');
    expect(executed).toHaveLength(1);
    expect(model.requests.at(-1)!.signal?.aborted).toBe(true);
    expect(streamed).not.toContain('never shown');
  });

  it('abandons a step that is streaming when the caller aborts mid-way', async () => {
    const controller = new AbortController();
    const model = new ScriptedModel('p', [{ hang: true }]);
    const { input } = turnInput({ signal: controller.signal });
    setTimeout(() => controller.abort(), 30);

    const started = performance.now();
    const failure = await runAgentTurn(chainOf(model), input).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ProviderError);
    expect((failure as ProviderError).kind).toBe('aborted');
    // Well before the first-token timeout (1000 ms): the abort, not a timeout, ended it.
    expect(performance.now() - started).toBeLessThan(500);
    expect(model.requests[0]!.signal?.aborted).toBe(true);
  });
});
