import { SwitchboardError } from './switchboard-error.js';

/** Thrown by a tool handler for a failure the model should read (not a bug). */
export class ToolExecutionError extends SwitchboardError {
  override readonly name = 'ToolExecutionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('tool_error', message, options);
  }
}
