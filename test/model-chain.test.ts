import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../src/agent/chat-model.js';
import { DEFAULT_CHAIN_POLICY, type ChainPolicySettings } from '../src/agent/chain-policy.js';
import { AllProvidersFailedError, ModelChain, type StepCallbacks } from '../src/agent/model-chain.js';
import { ProviderError } from '../src/errors/index.js';
import { createLogger } from '../src/observability/logger.js';
import { ScriptedModel } from './helpers/scripted-model.js';

const logger = createLogger({ level: 'silent' });

/** Fast, deterministic defaults: no retries unless a case asks, a breaker that never opens by accident. */
const policy = (overrides: Partial<ChainPolicySettings> = {}): ChainPolicySettings => ({
  ...DEFAULT_CHAIN_POLICY,
  retries: 0,
  retryBaseMs: 1,
  retryMaxDelayMs: 5,
  firstTokenTimeoutMs: 1000,
  fallbackAfterMs: 2000,
  breaker: { failureRatio: 0.5, windowMs: 30_000, minRequests: 1000, halfOpenAfterMs: 60_000 },
  ...overrides,
});

const request = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  system: '',
  messages: [{ role: 'user', content: 'hello' }],
  tools: [],
  maxOutputTokens: 64,
  ...overrides,
});

function recordingCallbacks() {
  const seen: string[] = [];
  const callbacks: StepCallbacks = { onTextDelta: (delta) => seen.push(delta), onDiscard: () => seen.push('<discard>') };
  return { seen, callbacks };
}

const serverError = (provider: string, extra: Partial<ConstructorParameters<typeof ProviderError>[0]> = {}) =>
  new ProviderError({ provider, kind: 'server', message: 'HTTP 500', status: 500, ...extra });

describe('ModelChain', () => {
  it('moves a failed step to the next provider with the same messages, and keeps it for the next step', async () => {
    const first = new ScriptedModel('first', [{ fail: serverError('first') }]);
    const second = new ScriptedModel('second', [{ text: 'from second' }]);
    const chain = new ModelChain([first, second], logger, { policy: policy() });
    const progress = chain.startTurn();

    const step0 = await chain.runStep(request(), 0, progress, recordingCallbacks().callbacks);
    expect(step0.text).toBe('from second');
    expect(step0.model).toBe(second);
    expect(second.requests[0]!.messages).toEqual(first.requests[0]!.messages);
    expect(progress.attempts.map(({ provider, outcome, errorKind, status }) => ({ provider, outcome, errorKind, status }))).toEqual([
      { provider: 'first', outcome: 'error', errorKind: 'server', status: 500 },
      { provider: 'second', outcome: 'ok', errorKind: undefined, status: undefined },
    ]);

    await chain.runStep(request(), 1, progress, recordingCallbacks().callbacks);
    expect(first.calls).toBe(1);
    expect(second.calls).toBe(2);
  });

  it('tells the client to discard text streamed by a provider that then failed', async () => {
    const first = new ScriptedModel('first', [{ fail: serverError('first'), afterText: 'half an ans' }]);
    const second = new ScriptedModel('second', [{ text: 'the answer' }]);
    const chain = new ModelChain([first, second], logger, { policy: policy() });
    const { seen, callbacks } = recordingCallbacks();

    await chain.runStep(request(), 0, chain.startTurn(), callbacks);

    expect(seen).toEqual(['half an ans', '<discard>', 'the answer']);
  });

  it('neither retries a bad request nor counts it against the provider, and lets the next provider try it', async () => {
    const badRequest = new ProviderError({ provider: 'first', kind: 'bad_request', message: 'HTTP 400', status: 400 });
    const first = new ScriptedModel('first', [{ fail: badRequest }]);
    const second = new ScriptedModel('second', [{ text: 'ok' }]);
    const chain = new ModelChain([first, second], logger, { policy: policy({ retries: 3, breaker: { ...policy().breaker, minRequests: 1 } }) });

    // A 400 is about our request; another provider may still take it, but the first is not retried.
    const result = await chain.runStep(request(), 0, chain.startTurn(), recordingCallbacks().callbacks);
    expect(result.model).toBe(second);
    expect(first.calls).toBe(1);
    expect(chain.health()[0]!.breaker).toBe('closed');
  });

  it('opens a provider’s breaker after failures, then skips it without calling it', async () => {
    const first = new ScriptedModel('first', [{ fail: serverError('first') }]);
    const second = new ScriptedModel('second', [{ text: 'ok' }]);
    const chain = new ModelChain([first, second], logger, { policy: policy({ breaker: { failureRatio: 0.5, windowMs: 10_000, minRequests: 2, halfOpenAfterMs: 60_000 } }) });

    for (let turn = 0; turn < 3 && chain.health()[0]!.breaker === 'closed'; turn++) {
      await chain.runStep(request(), 0, chain.startTurn(), recordingCallbacks().callbacks);
    }
    expect(chain.health().map((entry) => entry.breaker)).toEqual(['open', 'closed']);
    const callsWhenOpened = first.calls;

    const progress = chain.startTurn();
    const result = await chain.runStep(request(), 0, progress, recordingCallbacks().callbacks);

    expect(result.model).toBe(second);
    expect(first.calls).toBe(callsWhenOpened);
    expect(progress.attempts[0]).toMatchObject({ provider: 'first', outcome: 'skipped', errorKind: 'circuit_open' });
    expect(chain.anyAvailable).toBe(true);
  });

  it('waits as long as retry-after asks before retrying the same provider', async () => {
    const limited = new ProviderError({ provider: 'first', kind: 'rate_limited', message: 'HTTP 429', status: 429, retryAfterMs: 150 });
    const first = new ScriptedModel('first', [{ fail: limited }, { text: 'after the wait' }]);
    const chain = new ModelChain([first], logger, { policy: policy({ retries: 1 }) });

    const started = performance.now();
    const result = await chain.runStep(request(), 0, chain.startTurn(), recordingCallbacks().callbacks);

    expect(result.text).toBe('after the wait');
    expect(first.calls).toBe(2);
    // The jittered backoff alone is at most retryMaxDelayMs (5 ms): only retry-after explains the wait.
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('moves to the next provider at once when retry-after is longer than the step may wait', async () => {
    const limited = new ProviderError({ provider: 'first', kind: 'rate_limited', message: 'HTTP 429', status: 429, retryAfterMs: 30_000 });
    const first = new ScriptedModel('first', [{ fail: limited }, { text: 'too late' }]);
    const second = new ScriptedModel('second', [{ text: 'from second' }]);
    const chain = new ModelChain([first, second], logger, { policy: policy({ retries: 2, fallbackAfterMs: 2000 }) });

    const started = performance.now();
    const result = await chain.runStep(request(), 0, chain.startTurn(), recordingCallbacks().callbacks);

    expect(result.model).toBe(second);
    expect(first.calls).toBe(1);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('retries a provider’s 409 conflict on the same provider', async () => {
    const conflict = new ProviderError({ provider: 'first', kind: 'conflict', message: 'HTTP 409', status: 409 });
    const first = new ScriptedModel('first', [{ fail: conflict }, { text: 'got past the lock' }]);
    const chain = new ModelChain([first], logger, { policy: policy({ retries: 1 }) });

    const result = await chain.runStep(request(), 0, chain.startTurn(), recordingCallbacks().callbacks);

    expect(result.text).toBe('got past the lock');
    expect(first.calls).toBe(2);
  });

  it('abandons a provider that sends no first token in time, without retrying it, and asks the next', async () => {
    const silent = new ScriptedModel('silent', [{ hang: true }]);
    const second = new ScriptedModel('second', [{ text: 'here' }]);
    const chain = new ModelChain([silent, second], logger, { policy: policy({ retries: 2, firstTokenTimeoutMs: 60 }) });
    const progress = chain.startTurn();

    const started = performance.now();
    const result = await chain.runStep(request(), 0, progress, recordingCallbacks().callbacks);
    const waited = performance.now() - started;

    expect(result.model).toBe(second);
    expect(silent.calls).toBe(1);
    expect(silent.requests[0]!.signal?.aborted).toBe(true);
    expect(progress.attempts[0]).toMatchObject({ provider: 'silent', outcome: 'error', errorKind: 'timeout' });
    expect(waited).toBeGreaterThanOrEqual(50);
    expect(waited).toBeLessThan(1000);
  });

  it('fails the step with every attempt listed when no provider answers', async () => {
    const first = new ScriptedModel('first', [{ fail: serverError('first') }]);
    const second = new ScriptedModel('second', [{ fail: serverError('second', { kind: 'network', status: undefined }) }]);
    const chain = new ModelChain([first, second], logger, { policy: policy() });
    const progress = chain.startTurn();

    const failure = await chain.runStep(request(), 0, progress, recordingCallbacks().callbacks).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AllProvidersFailedError);
    expect(failure).toMatchObject({ reason: 'all_providers_failed', code: 'provider_error' });
    expect((failure as AllProvidersFailedError).attempts.map((attempt) => attempt.errorKind)).toEqual(['server', 'network']);
    expect((failure as AllProvidersFailedError).lastError).toBeInstanceOf(ProviderError);
  });

  it('stops at the turn’s attempt budget across retries and providers', async () => {
    const first = new ScriptedModel('first', [{ fail: serverError('first') }]);
    const second = new ScriptedModel('second', [{ text: 'never asked' }]);
    const chain = new ModelChain([first, second], logger, { policy: policy({ retries: 5, maxAttempts: 2 }) });

    const failure = await chain.runStep(request(), 0, chain.startTurn(), recordingCallbacks().callbacks).catch((error: unknown) => error);

    expect(failure).toMatchObject({ reason: 'attempt_budget_exhausted' });
    expect(first.calls + second.calls).toBe(2);
    expect(second.calls).toBe(0);
  });

  it('gives up on a later step once the turn’s deadline has passed on its clock, without calling a provider', async () => {
    let now = 1_000_000;
    const model = new ScriptedModel('only', [{ text: 'step zero' }]);
    const chain = new ModelChain([model], logger, { policy: policy({ turnTimeoutMs: 10_000 }), now: () => now });
    const progress = chain.startTurn();
    await chain.runStep(request(), 0, progress, recordingCallbacks().callbacks);

    now += 10_001;
    const failure = await chain.runStep(request(), 1, progress, recordingCallbacks().callbacks).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AllProvidersFailedError);
    expect(failure).toMatchObject({ reason: 'turn_timeout' });
    expect(model.calls).toBe(1);
  });

  it('reports the fallback deadline, not the turn timeout, when only the step’s bound has passed', async () => {
    let now = 0;
    const model = new ScriptedModel('only', [{ text: 'x' }]);
    const chain = new ModelChain([model], logger, { policy: policy({ fallbackAfterMs: 5000, turnTimeoutMs: 60_000 }), now: () => now });
    const progress = chain.startTurn();

    // The first step's bound counts from the turn's start.
    now = 5001;
    const failure = await chain.runStep(request(), 0, progress, recordingCallbacks().callbacks).catch((error: unknown) => error);

    expect(failure).toMatchObject({ reason: 'fallback_deadline' });
    expect(model.calls).toBe(0);
  });

  it('says no provider is configured when the chain is empty', async () => {
    const chain = new ModelChain([], logger, { policy: policy() });
    expect(chain.isEmpty).toBe(true);
    await expect(chain.runStep(request(), 0, chain.startTurn(), recordingCallbacks().callbacks)).rejects.toThrow('no LLM provider is configured');
  });
});
