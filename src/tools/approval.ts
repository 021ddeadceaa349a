import type { PendingCallRecord, ToolCallRecord } from '../store/tool-calls.js';
import type { ToolCall } from '../store/schema.js';
import type { AnyTool } from './tool.js';

/** What a channel shows the person for a held call: a question with confirm / decline. */
export interface ApprovalRequest {
  confirmationId: string;
  /** The user message whose turn asked for the call. */
  messageId: string;
  toolName: string;
  summary: string;
  expiresAt: string;
}

export interface ApprovalSettings {
  /** SENSITIVE_TOOLS. */
  sensitiveTools: ReadonlySet<string>;
  /** CONFIRMATION_TTL_S, in ms. */
  ttlMs: number;
  now?: () => Date;
}

/**
 * Which calls wait for the person, decided in code rather than in the prompt: a tool
 * named in SENSITIVE_TOOLS, unless its own `confirmation.required(input)` says this
 * input is harmless (e.g. a checkout link under the threshold). The executor asks it;
 * the answer travels back to the turn as data (`ToolCallOutcome.approval`), which shows it.
 */
export class ApprovalPolicy {
  readonly #now: () => Date;

  constructor(private readonly settings: ApprovalSettings) {
    this.#now = settings.now ?? (() => new Date());
  }

  get ttlMs(): number {
    return this.settings.ttlMs;
  }

  now(): Date {
    return this.#now();
  }

  /** Whether this validated call must wait for the person. */
  requires(tool: AnyTool, input: unknown): boolean {
    if (!this.settings.sensitiveTools.has(tool.name)) return false;
    return tool.confirmation?.required?.(input) ?? true;
  }

  /** The row to store for a held call: its plain-language summary and when it expires. */
  pendingRecord(base: ToolCallRecord, tool: AnyTool, input: unknown): PendingCallRecord {
    const summary = tool.confirmation?.summary(input) ?? `Run ${tool.name}.`;
    return { ...base, summary, expiresAt: new Date(this.#now().getTime() + this.settings.ttlMs) };
  }
}

/** The question for a stored pending call. */
export function approvalRequestOf(row: ToolCall, now: Date): ApprovalRequest {
  return {
    confirmationId: row.id,
    messageId: row.messageId,
    toolName: row.toolName,
    summary: row.confirmationSummary ?? row.toolName,
    expiresAt: (row.confirmationExpiresAt ?? now).toISOString(),
  };
}
