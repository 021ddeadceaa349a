import { asc, eq } from 'drizzle-orm';
import type { Db } from './database.js';
import { turnSteps } from './schema.js';
import { storableJson } from './storable-text.js';

/** A model step as the model answered it: replayed instead of asked again when the turn is retried. */
export interface RecordedStep {
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
}

/** The turn journal (`turn_steps`): the model steps of a turn that asked for tools, by step index. */
export class TurnSteps {
  constructor(private readonly db: Db) {}

  /** Records a step once; a second run of the same step (a race between two workers) keeps the first. */
  async record(messageId: string, step: number, output: RecordedStep): Promise<void> {
    await this.db
      .insert(turnSteps)
      .values({ messageId, step, output: storableJson(output) })
      .onConflictDoNothing();
  }

  /** The recorded steps of a turn, by step index. */
  async list(messageId: string): Promise<Map<number, RecordedStep>> {
    const rows = await this.db
      .select({ step: turnSteps.step, output: turnSteps.output })
      .from(turnSteps)
      .where(eq(turnSteps.messageId, messageId))
      .orderBy(asc(turnSteps.step));
    return new Map(rows.map((row) => [row.step, row.output as RecordedStep]));
  }
}
