import { SwitchboardError } from '../errors/index.js';
import type { AnyTool, ToolContext } from './tool.js';

export type ToolRunResult =
  | { status: 'ok'; result: unknown; durationMs: number }
  | { status: 'error'; error: string; cause: unknown; durationMs: number };

/**
 * Runs a validated call under a timeout and turns any failure into a message the
 * model (or the person) may read. Shared by the executor and confirmed calls.
 */
export async function runTool(
  tool: AnyTool,
  input: unknown,
  context: Omit<ToolContext, 'signal'> & { signal: AbortSignal },
  timeoutMs: number,
): Promise<ToolRunResult> {
  const started = performance.now();
  const signal = AbortSignal.any([context.signal, AbortSignal.timeout(timeoutMs)]);
  try {
    const result = await tool.execute(input, { ...context, signal });
    return { status: 'ok', result: result ?? null, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    return { status: 'error', error: describeToolFailure(error, signal, timeoutMs), cause: error, durationMs: Math.round(performance.now() - started) };
  }
}

/** A message the model may read: our own errors verbatim, anything else generic (it may hold internals). */
export function describeToolFailure(error: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted && signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError') {
    return `the tool did not finish within ${timeoutMs} ms`;
  }
  if (error instanceof SwitchboardError) return error.message;
  return 'the tool failed unexpectedly; try again later or continue without it';
}
