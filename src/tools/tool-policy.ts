/**
 * Which tools each channel may use (TOOL_CHANNEL_POLICY). Enforced in code twice:
 * a channel is only offered its allowed tools, and a call to any other tool is
 * refused by the executor even if the model asks for it anyway.
 */
export class ToolPolicy {
  readonly #byChannel: ReadonlyMap<string, ReadonlySet<string>>;

  /** `byChannel`: channel → allowed tool names. A channel not listed may use every tool. */
  constructor(byChannel: Record<string, readonly string[]> = {}) {
    this.#byChannel = new Map(Object.entries(byChannel).map(([channel, tools]) => [channel.toLowerCase(), new Set(tools)]));
  }

  allows(channel: string, toolName: string): boolean {
    const allowed = this.#byChannel.get(channel.toLowerCase());
    return allowed === undefined || allowed.has(toolName);
  }
}
