import { SwitchboardError } from '../errors/index.js';
import type { PipelineEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import type { HandoffOperator } from '../store/handoffs.js';
import type { Conversation, Handoff, HandoffReason, Message } from '../store/schema.js';
import { storableText } from '../store/storable-text.js';
import { describeNextOpening, isOpen } from '../tools/google/working-hours.js';
import type { HandoffSettings } from './handoff-settings.js';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { InFlight } from './in-flight.js';
import type { DeliveryResult, ReplyDelivery } from './reply-delivery.js';

export type { HandoffSettings } from './handoff-settings.js';


/** Posts one line for operators somewhere they look (Slack's HANDOFF_SLACK_CHANNEL). Must not throw into a turn. */
export interface OperatorNotifier {
  waiting(input: { conversation: Conversation; handoff: Handoff; link: string }): Promise<void>;
}

export interface HandoffServiceDeps {
  store: Store;
  delivery: ReplyDelivery;
  events: PipelineEvents;
  inFlight: InFlight;
  logger: Logger;
  settings: HandoffSettings;
  /** A workspace's own handoff texts, keywords and working hours; without it every workspace has `settings`. */
  settingsFor?: ((workspaceId: string) => HandoffSettings) | undefined;
  notifier?: OperatorNotifier | undefined;
  /** The console's address of a conversation, for the notifier's link. */
  consoleLink: (conversationId: string) => string;
  now?: () => Date;
}

/** The caller of an operator action, as the admin API knows them. */
export interface OperatorActor extends HandoffOperator {
  /** Admins may reply to and release conversations another operator holds. */
  isAdmin: boolean;
  /** The workspace the operator acts in: a conversation of another one is not found. */
  workspaceId?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notInHumanMode = () => new SwitchboardError('not_in_human_mode', 'the conversation is with the agent: take it over first');

/**
 * Handing a conversation to a person, as state in code: the conversation's mode and a
 * handoff record, never a sentence in the model's reply. While a conversation is `human` the
 * spine stores the person's messages without running the agent (intake, turn runner,
 * follow-ups all check the mode); operators reply through the one reply-delivery path.
 */
export class HandoffService {
  readonly #now: () => Date;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: HandoffServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  /** The deployment's handoff settings (the default workspace's as configured by environment). */
  get settings(): HandoffSettings {
    return this.deps.settings;
  }

  /** A workspace's handoff settings: its own texts, keywords and hours over the deployment's. */
  settingsOf(workspaceId: string): HandoffSettings {
    return this.deps.settingsFor?.(workspaceId) ?? this.deps.settings;
  }

  /** Whether a message is exactly one of the workspace's HANDOFF_KEYWORDS (case and surrounding punctuation aside). */
  matchesKeyword(text: string, workspaceId: string = DEFAULT_WORKSPACE_ID): boolean {
    const { keywords } = this.settingsOf(workspaceId);
    if (keywords.length === 0) return false;
    const word = text.trim().toLowerCase().replace(/^[\p{P}\s]+|[\p{P}\s]+$/gu, '');
    return keywords.includes(word);
  }

  /** The handoff notice of this conversation's workspace and channel. */
  noticeFor(conversation: Conversation): string {
    const settings = this.settingsOf(conversation.workspaceId);
    return settings.noticeByChannel[conversation.channel] ?? settings.notice;
  }

  /**
   * The conversation goes to a person (`waiting`). The person is told once, when it starts:
   * with the handoff notice, unless `tellPerson` is false (request_human: the notice is the
   * turn's own reply). A conversation already with a person is left as it is.
   */
  async request(
    conversation: Conversation,
    reason: HandoffReason,
    options: { messageId?: string; summary?: string; holdMessage?: boolean; tellPerson?: boolean } = {},
  ): Promise<{ handoff: Handoff; started: boolean }> {
    const log = this.deps.logger.child({ conversationId: conversation.id, channel: conversation.channel });
    const opened = await this.deps.store.handoffs.request({
      conversationId: conversation.id,
      reason,
      summary: options.summary ? storableText(options.summary).slice(0, 500) : null,
      messageId: options.messageId ?? null,
      holdMessage: options.holdMessage ?? false,
    });
    if (!opened.started) return opened;
    const human = { ...conversation, mode: 'human' as const };
    log.info({ reason }, 'conversation handed to a person (waiting)');
    this.announce(human, opened.handoff, 'requested');
    await this.deps.delivery.showHandoff(human, { status: 'waiting' }, log);
    if (options.tellPerson !== false) await this.deps.delivery.deliverMessage(human, { text: this.noticeFor(conversation), author: 'system' }, log);
    void this.deps.notifier
      ?.waiting({ conversation: human, handoff: opened.handoff, link: this.deps.consoleLink(conversation.id) })
      .catch((error: unknown) => log.warn({ err: error }, 'operators not notified of the handoff'));
    return opened;
  }

  /** A message whose turn opened after its conversation went to a person: kept for the operator, shown live. */
  async hold(turn: { message: Message; conversation: Conversation }): Promise<void> {
    if (await this.deps.store.messages.holdForHuman(turn.message.id)) {
      this.deps.events.emit('message.held', { message: { ...turn.message, status: 'human' }, conversation: turn.conversation });
    }
  }

  /** An operator takes the conversation (from `waiting`, or from the agent). Another operator holding it: 409. */
  async takeover(conversationId: string, operator: OperatorActor): Promise<Handoff> {
    const conversation = await this.conversation(conversationId, operator.workspaceId);
    const result = await this.deps.store.handoffs.takeover(conversation.id, operator);
    if (result.outcome === 'held') {
      throw new SwitchboardError('already_taken', `${result.handoff.operatorName ?? 'another operator'} holds this conversation`);
    }
    if (result.outcome === 'already_yours') return result.handoff;
    const log = this.deps.logger.child({ conversationId, channel: conversation.channel });
    const human = { ...conversation, mode: 'human' as const };
    log.info({ operator: operator.actor, from: result.outcome === 'claimed' ? 'waiting' : 'agent' }, 'operator took the conversation over');
    this.announce(human, result.handoff, result.outcome);
    await this.deps.delivery.showHandoff(human, { status: 'active', operatorName: operator.name }, log);
    // Taken straight from the agent: the person learns a person answers from here (on every
    // channel; the web widget also shows the state).
    if (result.outcome === 'started') {
      const text = this.settingsOf(conversation.workspaceId).joinedNotice.replaceAll('{operator}', operator.name);
      await this.deps.delivery.deliverMessage(human, { text, author: 'system' }, log);
    }
    return result.handoff;
  }

  /** An operator's reply, delivered in the person's channel. Only to a conversation with a person, held by this operator (or by anyone, for an admin). */
  async reply(
    conversationId: string,
    operator: OperatorActor,
    text: string,
    clientMessageId?: string,
  ): Promise<{ messageId: string; delivery: DeliveryResult | 'duplicate' }> {
    const body = this.validText(text, 'reply');
    const conversation = await this.conversation(conversationId, operator.workspaceId);
    const handoff = await this.deps.store.handoffs.findOpen(conversation.id);
    if (!handoff) throw notInHumanMode();
    if (!operator.isAdmin && (handoff.status !== 'active' || handoff.operator !== operator.actor)) {
      throw new SwitchboardError(
        'not_held',
        handoff.status === 'waiting' ? 'nobody holds this conversation yet: take it over first' : `${handoff.operatorName ?? 'another operator'} holds this conversation`,
      );
    }
    const log = this.deps.logger.child({ conversationId, channel: conversation.channel });
    const { message, delivery } = await this.deps.delivery.deliverMessage(
      conversation,
      { text: body, author: 'operator', authorId: operator.id, authorName: operator.name, ...(clientMessageId && { externalMessageId: `operator:${clientMessageId}` }) },
      log,
    );
    return { messageId: message.id, delivery };
  }

  /** Back to the agent: its next turn sees the whole history, operator messages included. */
  async release(conversationId: string, operator: OperatorActor): Promise<Handoff> {
    const conversation = await this.conversation(conversationId, operator.workspaceId);
    const open = await this.deps.store.handoffs.findOpen(conversation.id);
    if (!open) throw notInHumanMode();
    if (!operator.isAdmin && open.status === 'active' && open.operator !== operator.actor) {
      throw new SwitchboardError('not_held', `${open.operatorName ?? 'another operator'} holds this conversation`);
    }
    const released = await this.deps.store.handoffs.release(conversation.id);
    if (!released) throw notInHumanMode();
    const log = this.deps.logger.child({ conversationId, channel: conversation.channel });
    log.info({ operator: operator.actor }, 'conversation released to the agent');
    const agent = { ...conversation, mode: 'agent' as const };
    this.announce(agent, released, 'released');
    await this.deps.delivery.showHandoff(agent, { status: 'released' }, log);
    return released;
  }

  /** An internal note: stored and shown to operators, never sent. */
  async addNote(conversationId: string, operator: OperatorActor, text: string) {
    const body = this.validText(text, 'note');
    const conversation = await this.conversation(conversationId, operator.workspaceId);
    const note = await this.deps.store.handoffs.addNote({ conversationId: conversation.id, author: operator.actor, text: body });
    const open = await this.deps.store.handoffs.findOpen(conversation.id);
    this.deps.events.emit('handoff.changed', {
      conversationId,
      channel: conversation.channel,
      change: 'note',
      status: open?.status ?? 'released',
      reason: open?.reason ?? 'operator',
      operator: operator.actor,
    });
    return note;
  }

  /**
   * One "everyone is busy" notice to each person whose handoff nobody claimed within
   * HANDOFF_WAIT_NOTICE_S (outside working hours it says when people are back). Claimed per row
   * in the statement that marks it, so several instances sweeping send it once.
   */
  async sendWaitNotices(): Promise<number> {
    const { waitNoticeMs } = this.deps.settings;
    if (waitNoticeMs <= 0) return 0;
    const now = this.#now();
    const due = await this.deps.store.handoffs.claimWaitNotices(new Date(now.getTime() - waitNoticeMs));
    for (const { conversation } of due) {
      const log = this.deps.logger.child({ conversationId: conversation.id, channel: conversation.channel });
      await this.deps.delivery
        .deliverMessage(conversation, { text: this.waitNoticeText(now, conversation.workspaceId), author: 'system' }, log)
        .catch((error: unknown) => log.error({ err: error }, 'wait notice not delivered'));
    }
    return due.length;
  }

  /** The busy notice, or (outside working hours) the closed notice with when people are back. */
  waitNoticeText(now: Date, workspaceId: string = DEFAULT_WORKSPACE_ID): string {
    const { hours, busyNotice, closedNotice } = this.settingsOf(workspaceId);
    if (!hours || isOpen(now, hours)) return busyNotice;
    return closedNotice.replaceAll('{back}', describeNextOpening(now, hours));
  }

  startSweeper(intervalMs: number): void {
    if (this.#sweeper || this.deps.settings.waitNoticeMs <= 0) return;
    this.#sweeper = setInterval(() => {
      void this.deps.inFlight.track(this.sendWaitNotices()).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'handoff wait-notice sweep failed'));
    }, intervalMs);
    this.#sweeper.unref();
  }

  stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  private validText(text: unknown, what: string): string {
    if (typeof text !== 'string') throw new SwitchboardError('invalid_payload', `${what} text must be a string`);
    const trimmed = text.trim();
    if (trimmed.length === 0) throw new SwitchboardError('empty_message', `${what} text is empty`);
    if (trimmed.length > this.deps.settings.maxTextChars) {
      throw new SwitchboardError('message_too_long', `${what} is ${trimmed.length} characters; the limit is ${this.deps.settings.maxTextChars}`);
    }
    return storableText(trimmed);
  }

  /** A conversation of another workspace than the operator's answers exactly as one that does not exist. */
  private async conversation(conversationId: string, workspaceId: string | undefined): Promise<Conversation> {
    const conversation = UUID.test(conversationId) ? await this.deps.store.conversations.getConversation(conversationId) : undefined;
    if (!conversation || (workspaceId !== undefined && conversation.workspaceId !== workspaceId)) throw new SwitchboardError('not_found', 'no conversation with this id');
    return conversation;
  }

  private announce(conversation: Conversation, handoff: Handoff, change: 'requested' | 'claimed' | 'started' | 'released'): void {
    this.deps.events.emit('handoff.changed', {
      conversationId: conversation.id,
      channel: conversation.channel,
      change,
      status: handoff.status,
      reason: handoff.reason,
      operator: handoff.operator,
    });
  }
}
