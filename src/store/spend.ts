import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './database.js';
import { prepareRows } from './rows.js';

/** The spend the budgets are checked against; a scope not asked for is null. */
export interface Spend {
  /** Every priced call of the message's conversation, ever. */
  conversation: number | null;
  /** The person's (channel + external user id, over all their conversations) since `dayStart`. */
  userDaily: number | null;
  /** Everyone's since `dayStart`. */
  globalDaily: number | null;
}

export type SpendScopes = Record<keyof Spend, boolean>;

/**
 * What has been spent (`messages.cost_usd`, summed) around one user message, for the budgets:
 * the scopes asked for, in one statement, prepared once per set of scopes. Each sum walks an index:
 * the conversation's messages, the person's conversations (identity index) and their messages since
 * the day began, and the priced messages since the day began (`messages_cost_created_idx`).
 */
export class SpendRecords {
  readonly #statements = new Map<string, (values: Record<string, unknown>) => Promise<Record<keyof Spend, number | string | null>[]>>();

  constructor(private readonly db: Db) {}

  async around(messageId: string, scopes: SpendScopes, dayStart: Date): Promise<Spend> {
    const [row] = await this.statement(scopes)({ messageId, dayStart: dayStart.toISOString() });
    const value = (sum: number | string | null | undefined) => (sum === null || sum === undefined ? null : Number(sum));
    return { conversation: value(row?.conversation), userDaily: value(row?.userDaily), globalDaily: value(row?.globalDaily) };
  }

  private statement(scopes: SpendScopes) {
    const name = `spend_${Number(scopes.conversation)}${Number(scopes.userDaily)}${Number(scopes.globalDaily)}`;
    let statement = this.#statements.get(name);
    if (!statement) {
      statement = prepareRows(this.db, name, spendQuery(scopes));
      this.#statements.set(name, statement);
    }
    return statement;
  }
}

function spendQuery(scopes: SpendScopes): SQL {
  const id = sql.placeholder('messageId');
  const dayStart = sql`${sql.placeholder('dayStart')}::timestamptz`;
  const none = sql`null::double precision`;
  const conversation = scopes.conversation
    ? sql`(select coalesce(sum(r.cost_usd), 0) from messages r
           where r.conversation_id = (select conversation_id from turn) and r.cost_usd is not null)`
    : none;
  const userDaily = scopes.userDaily
    ? sql`(select coalesce(sum(r.cost_usd), 0) from conversations pc join messages r on r.conversation_id = pc.id
           where pc.workspace_id = (select workspace_id from turn)
             and pc.channel = (select channel from turn) and pc.external_user_id = (select external_user_id from turn)
             and r.created_at >= ${dayStart} and r.cost_usd is not null)`
    : none;
  const globalDaily = scopes.globalDaily
    ? sql`(select coalesce(sum(cost_usd), 0) from messages
           where workspace_id = (select workspace_id from turn) and created_at >= ${dayStart} and cost_usd is not null)`
    : none;
  return sql`with turn as (
      select m.conversation_id, c.workspace_id, c.channel, c.external_user_id
      from messages m join conversations c on c.id = m.conversation_id
      where m.id = ${id}::uuid
    )
    select ${conversation} as "conversation", ${userDaily} as "userDaily", ${globalDaily} as "globalDaily"`;
}
