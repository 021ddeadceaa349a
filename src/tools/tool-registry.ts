import { z } from 'zod';
import type { ToolSpec } from '../agent/chat-model.js';
import type { AnyTool } from './tool.js';
import { ToolPolicy } from './tool-policy.js';

/** The tools offered to the model. Lookup is by own key only, so "__proto__" or "constructor" never resolve. */
export class ToolRegistry {
  readonly #tools = new Map<string, AnyTool>();
  readonly #specs: ToolSpec[];
  readonly #specsByChannel = new Map<string, ToolSpec[]>();
  readonly policy: ToolPolicy;

  constructor(tools: AnyTool[], policy: ToolPolicy = new ToolPolicy()) {
    this.policy = policy;
    for (const tool of tools) {
      if (this.#tools.has(tool.name)) throw new Error(`duplicate tool name ${tool.name}`);
      this.#tools.set(tool.name, tool);
    }
    // Rendered once: schemas do not change at run time and this is on every turn's path.
    this.#specs = tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      inputSchema: toInputSchema(tool.input),
    }));
  }

  /** This registry with more tools that every channel may use, whatever TOOL_CHANNEL_POLICY lists. */
  withEverywhere(extra: AnyTool[]): ToolRegistry {
    return new ToolRegistry([...this.#tools.values(), ...extra], this.policy.allowingEverywhere(extra.map((tool) => tool.name)));
  }

  get(name: string): AnyTool | undefined {
    return this.#tools.get(name);
  }

  names(): string[] {
    return [...this.#tools.keys()];
  }

  specs(): ToolSpec[] {
    return this.#specs;
  }

  /** The tools offered on one channel: those its policy allows. */
  specsFor(channel: string): ToolSpec[] {
    let specs = this.#specsByChannel.get(channel);
    if (!specs) {
      specs = this.#specs.filter((spec) => this.policy.allows(channel, spec.name));
      this.#specsByChannel.set(channel, specs);
    }
    return specs;
  }
}

function toInputSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...jsonSchema } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return jsonSchema;
}
