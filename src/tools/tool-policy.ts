/**
 * Which tools each channel may use (TOOL_CHANNEL_POLICY). Enforced in code twice:
 * a channel is only offered its allowed tools, and a call to any other tool is
 * refused by the executor even if the model asks for it anyway.
 */
export class ToolPolicy {
  readonly #byChannel: ReadonlyMap<string, ReadonlySet<string>>;
  readonly #everywhere: ReadonlySet<string>;

  /**
   * `byChannel`: channel → allowed tool names. A channel not listed may use every tool.
   * `everywhere`: tools no channel's list can take away (the spine's own `request_human`).
   */
  constructor(byChannel: Record<string, readonly string[]> = {}, everywhere: Iterable<string> = []) {
    this.#byChannel = new Map(Object.entries(byChannel).map(([channel, tools]) => [channel.toLowerCase(), new Set(tools)]));
    this.#everywhere = new Set(everywhere);
  }

  allows(channel: string, toolName: string): boolean {
    if (this.#everywhere.has(toolName)) return true;
    const allowed = this.#byChannel.get(channel.toLowerCase());
    return allowed === undefined || allowed.has(toolName);
  }

  /** This policy, with `names` allowed on every channel whatever the lists say. */
  allowingEverywhere(names: Iterable<string>): ToolPolicy {
    const byChannel = Object.fromEntries([...this.#byChannel].map(([channel, tools]) => [channel, [...tools]]));
    return new ToolPolicy(byChannel, [...this.#everywhere, ...names]);
  }
}
