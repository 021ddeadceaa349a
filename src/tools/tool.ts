import type { z } from 'zod';

/** What a tool handler knows about the call it serves. */
export interface ToolContext {
  /** The workspace of the turn (absent: the default workspace): an integration that calls back later (Stripe) is told it. */
  workspaceId?: string;
  conversationId: string;
  messageId: string;
  channel: string;
  /** Stable for one tool call of a turn (message, step, tool, canonical arguments; never the model's call id): pass it to the integration so a retry never duplicates. */
  idempotencyKey: string;
  /** The call's row in `tool_calls`: an integration that calls back later (a Stripe webhook) finds it by this id. */
  toolCallId: string;
  signal: AbortSignal;
}

/**
 * One capability the agent can use, defined once. The registry renders it to each
 * provider's tool format; the executor validates input with `input` before `execute` runs.
 */
export interface Tool<Input = unknown, Output = unknown> {
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType<Input>;
  execute(input: Input, context: ToolContext): Promise<Output>;
  /**
   * For a tool listed in SENSITIVE_TOOLS: whether this call needs the person's
   * confirmation (default: every call) and the plain-language question to ask.
   */
  readonly confirmation?: ToolConfirmation<Input>;
  /** The result in a sentence for the person, used when a confirmed call's outcome is delivered. */
  describeResult?(output: Output): string;
  /**
   * A tool after which the agent must not go on (request_human): the turn ends once the step's
   * calls have run, and its reply closes with this text instead of another model call.
   */
  endsTurn?(output: Output): string;
}

export interface ToolConfirmation<Input> {
  required?(input: Input): boolean;
  summary(input: Input): string;
}

/** Erases the input type so tools of different shapes sit in one registry. */
export type AnyTool = Tool<any, unknown>;

export function defineTool<Schema extends z.ZodType, Output>(tool: {
  name: string;
  description: string;
  input: Schema;
  execute(input: z.output<Schema>, context: ToolContext): Promise<Output>;
  confirmation?: ToolConfirmation<z.output<Schema>>;
  describeResult?(output: Output): string;
  endsTurn?(output: Output): string;
}): Tool<z.output<Schema>, Output> {
  return tool as Tool<z.output<Schema>, Output>;
}
