import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runAgentTurn, STEP_LIMIT_REPLY, type AgentTurnInput, type ExecutedToolCall } from '../src/agent/agent.js';
import type { ToolCallRequest } from '../src/agent/chat-model.js';
import { ModelChain } from '../src/agent/model-chain.js';
import { RepeatedCallGuard } from '../src/agent/repeated-call-guard.js';
import { createLogger } from '../src/observability/logger.js';
import { defineTool } from '../src/tools/tool.js';
import { startFakeOpenAIServer, type FakeProviderServer } from './fakes/fake-openai-server.js';
import { ScriptedModel } from './helpers/scripted-model.js';
import { listToolCalls } from './helpers/store-queries.js';
import { connectClient, sendAndCollect, startTestApp, type ClientSocket, type RunningApp } from './helpers/test-app.js';

/**
 * The peers' "121 identical calls" loop: within a turn, the third call of one tool with the same
 * (canonical) arguments is not run; the model reads a tool error saying so, and the call is
 * recorded as refused. The same tool with other arguments still runs; the step limit still ends a
 * model that keeps going.
 */

const REPEAT_ERROR = 'this exact call already ran twice in this turn with the same arguments; use its result or change the arguments';

const lookups: string[] = [];
const lookupTool = defineTool({
  name: 'lookup_order',
  description: 'Looks an order up.',
  input: z.object({ orderId: z.string(), verbose: z.boolean().optional() }).strict(),
  async execute({ orderId }) {
    lookups.push(orderId);
    return { orderId, status: 'shipped' };
  },
});

describe('RepeatedCallGuard', () => {
  const call = (id: string, name: string, args: string): ToolCallRequest => ({ id, name, arguments: args });

  it('refuses the third identical call, comparing arguments canonically', () => {
    const guard = new RepeatedCallGuard();
    expect(guard.admit(call('1', 'a', '{"x":1,"y":[1,{"b":2,"a":1}]}'))).toBeUndefined();
    expect(guard.admit(call('2', 'a', '{ "y": [1, {"a":1,"b":2}], "x": 1 }'))).toBeUndefined();
    expect(guard.admit(call('3', 'a', '{"y":[1,{"a":1,"b":2}],"x":1}'))).toBe(REPEAT_ERROR);
    // Other arguments, another tool, an array in another order: other calls.
    expect(guard.admit(call('4', 'a', '{"x":2,"y":[1,{"a":1,"b":2}]}'))).toBeUndefined();
    expect(guard.admit(call('5', 'b', '{"x":1,"y":[1,{"a":1,"b":2}]}'))).toBeUndefined();
    expect(guard.admit(call('6', 'a', '{"x":1,"y":[{"a":1,"b":2},1]}'))).toBeUndefined();
    // Empty arguments are `{}`; text that is not JSON is compared as sent.
    expect(guard.admit(call('7', 'c', ''))).toBeUndefined();
    expect(guard.admit(call('8', 'c', '{}'))).toBeUndefined();
    expect(guard.admit(call('9', 'c', '  '))).toBe(REPEAT_ERROR);
    expect(guard.admit(call('10', 'd', '{oops'))).toBeUndefined();
    expect(guard.admit(call('11', 'd', '{oops'))).toBeUndefined();
    expect(guard.admit(call('12', 'd', '{oops'))).toBe(REPEAT_ERROR);
  });

  it('leaves a model that keeps repeating the call to the step limit', async () => {
    const repeat = { toolCalls: [{ id: 't', name: 'lookup_order', arguments: '{"orderId":"ord_1"}' }] };
    const model = new ScriptedModel('p', [repeat]);
    const executed: string[] = [];
    const refused: string[] = [];
    const input: AgentTurnInput = {
      system: 'test',
      history: [{ role: 'user', content: 'where is my order?' }],
      tools: [],
      maxSteps: 6,
      maxOutputTokens: 100,
      signal: new AbortController().signal,
      async executeTool(toolCall): Promise<ExecutedToolCall> {
        executed.push(toolCall.id);
        return { name: toolCall.name, status: 'ok', content: '{"status":"shipped"}', isError: false };
      },
      async refuseTool(toolCall, _context, error): Promise<ExecutedToolCall> {
        refused.push(error);
        return { name: toolCall.name, status: 'refused', content: JSON.stringify({ error }), isError: true };
      },
      stream: { onTextDelta: () => {}, onDiscard: () => {} },
    };

    const result = await runAgentTurn(new ModelChain([model], createLogger({ level: 'silent' })), input);

    expect(model.calls).toBe(6);
    expect(executed).toHaveLength(2);
    expect(refused).toEqual([REPEAT_ERROR, REPEAT_ERROR, REPEAT_ERROR, REPEAT_ERROR]);
    expect(result).toMatchObject({ stoppedBy: 'step-limit', steps: 6, text: STEP_LIMIT_REPLY });
    expect(result.toolCalls.map((entry) => entry.status)).toEqual(['ok', 'ok', 'refused', 'refused', 'refused', 'refused']);
    // The model was told, as a tool result it reads.
    expect(model.requests[3]!.messages.at(-1)).toEqual({ role: 'tool', toolCallId: 't', toolName: 'lookup_order', content: JSON.stringify({ error: REPEAT_ERROR }), isError: true });
  });
});

describe('the repeated-call guard, end to end', () => {
  let openai: FakeProviderServer;
  let server: RunningApp;
  let socket: ClientSocket;
  let conversationId: string;

  beforeAll(async () => {
    openai = await startFakeOpenAIServer();
    server = await startTestApp(
      { OPENAI_API_KEY: 'sk-openai-test', OPENAI_BASE_URL: openai.url, LLM_PROVIDERS: 'openai', MAX_TOOL_STEPS: '6' },
      { extraTools: [lookupTool] },
    );
  });

  afterEach(() => {
    socket?.disconnect();
    openai.reset();
    lookups.length = 0;
  });

  afterAll(async () => {
    await server?.stop();
    await openai?.close();
  });

  const newClient = async () => {
    const connected = await connectClient(server.url);
    socket = connected.socket;
    conversationId = connected.session.conversationId;
  };

  it('runs a call twice, then refuses the same call: recorded as refused, read by the model as a tool error', async () => {
    await newClient();
    const same = (id: string, args: Record<string, unknown>) => ({ toolCalls: [{ id, name: 'lookup_order', arguments: args }] });
    // A scripted model that calls the same tool with the same arguments five times (keys reordered once).
    openai.push(
      same('call_1', { orderId: 'ord_7', verbose: false }),
      same('call_2', { verbose: false, orderId: 'ord_7' }),
      same('call_3', { orderId: 'ord_7', verbose: false }),
      same('call_4', { orderId: 'ord_7', verbose: false }),
      same('call_5', { orderId: 'ord_7', verbose: false }),
      { text: 'Order ord_7 has shipped.' },
    );

    const { reply } = await sendAndCollect(socket, 'where is ord_7?');

    expect(reply.done.text).toBe('Order ord_7 has shipped.');
    expect(lookups).toEqual(['ord_7', 'ord_7']);
    expect(reply.done.toolCalls.map((call) => call.status)).toEqual(['ok', 'ok', 'refused', 'refused', 'refused']);
    expect(openai.requests).toHaveLength(6);
    const toolResult = openai.requests[3]!.body.messages.at(-1);
    expect(toolResult).toEqual({ role: 'tool', tool_call_id: 'call_3', content: JSON.stringify({ error: REPEAT_ERROR }) });

    const rows = await listToolCalls(server.app.database.db, conversationId);
    expect(rows.map((row) => [row.callId, row.step, row.status, row.error])).toEqual([
      ['call_1', 0, 'ok', null],
      ['call_2', 1, 'ok', null],
      ['call_3', 2, 'refused', REPEAT_ERROR],
      ['call_4', 3, 'refused', REPEAT_ERROR],
      ['call_5', 4, 'refused', REPEAT_ERROR],
    ]);
    expect(rows[2]).toMatchObject({ toolName: 'lookup_order', arguments: { orderId: 'ord_7', verbose: false }, durationMs: 0 });
  });

  it('records each refused call of one step, and still runs the same tool with other arguments', async () => {
    await newClient();
    const call = (id: string, orderId: string) => ({ id, name: 'lookup_order', arguments: { orderId } });
    openai.push(
      { toolCalls: [call('a1', 'ord_1'), call('a2', 'ord_1'), call('a3', 'ord_1'), call('a4', 'ord_1'), call('b1', 'ord_2')] },
      { text: 'Both shipped.' },
    );

    const { reply } = await sendAndCollect(socket, 'where are ord_1 and ord_2?');

    expect(reply.done.text).toBe('Both shipped.');
    // The second identical call of a step is answered from the first's record (idempotency); the third and fourth are refused.
    expect(lookups).toEqual(['ord_1', 'ord_2']);
    const rows = await listToolCalls(server.app.database.db, conversationId);
    expect(rows.map((row) => [row.callId, row.status]).sort()).toEqual([
      ['a1', 'ok'],
      ['a3', 'refused'],
      ['a4', 'refused'],
      ['b1', 'ok'],
    ]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^switchboard_tool_calls_total\{tool="lookup_order",status="refused"\} 5$/m);
  });
});
