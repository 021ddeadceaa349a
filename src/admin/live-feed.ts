import { eq } from 'drizzle-orm';
import type { Namespace, Server } from 'socket.io';
import { DEFAULT_WORKSPACE_ID } from '../config/workspace.js';
import type { HandoffEvent, PipelineEvents, ToolCallEvent } from '../observability/events.js';
import type { Db } from '../store/database.js';
import { conversations } from '../store/schema.js';
import type { Logger } from '../observability/logger.js';
import type { AdminActor, AdminAuth } from './admin-auth.js';
import { getToolCallListItem, type ToolCallListItem } from './tool-call-query.js';
import { WorkspaceNotFoundError } from './workspace-not-found-error.js';

/** Events on the `/admin` socket.io namespace (server → client only). */
export interface AdminFeedEvents {
  /** A tool call was recorded (finished, or held for the person): the same redacted shape as a row of GET /api/admin/tool-calls. */
  'tool-call': (item: ToolCallListItem) => void;
  /**
   * A call the feed announced changed status (pending → running / declined / expired, running →
   * ok / error): the row as it is now, and the status it had. The console updates its row in place.
   */
  'tool-call.status': (item: ToolCallListItem & { previousStatus: string }) => void;
  /** A turn finished (no text, only its outcome). */
  turn: (turn: { messageId: string; conversationId: string; channel: string; status: string; provider: string | null; latencyMs: number; fallback: boolean; cached: boolean }) => void;
  /** A handoff opened, was claimed or released, or got a note: the inbox changes. */
  handoff: (event: HandoffEvent) => void;
  /**
   * A message in a conversation with a person (held user message, operator reply, notice) or an
   * assistant-side message outside a turn. No text: the console reads the transcript (redacted) by id.
   */
  message: (message: { conversationId: string; messageId: string; channel: string; role: string; status: string; author: string | null }) => void;
  /** A Stripe event was handled (stored, applied or not, the person told or not): read GET /api/admin/payments. */
  payment: (event: { type: string; outcome: string; conversationId: string | null }) => void;
}

type AdminNamespace = Namespace<Record<string, never>, AdminFeedEvents, Record<string, never>, { actor: AdminActor }>;

/** The room of one workspace's consoles: an event goes to the room of its conversation's workspace only. */
const workspaceRoom = (workspaceId: string) => `workspace:${workspaceId}`;

/** An event's payload and the workspace whose consoles may see it; undefined: nothing to send. */
type Addressed<T> = { workspaceId: string; value: T } | undefined;

/**
 * The live feed of the admin console: a separate namespace on the app's socket.io
 * server, authenticated in `nsp.use()` by the session cookie of the handshake or
 * `auth.token` = ADMIN_TOKEN. Failures reach the client as `connect_error` with
 * `err.data.code = 'unauthorized'` (or `workspace_not_found`). Emitting never blocks or breaks a turn.
 *
 * A console sees one workspace: its socket joins that workspace's room (an owner or the token
 * picks it with `auth.workspace`, as the API's `x-switchboard-workspace`), and every event is
 * sent to the room of its conversation's workspace (through the adapter, on every instance).
 */
export class AdminLiveFeed {
  readonly nsp: AdminNamespace;
  #offs: (() => void)[] = [];
  /** The last event of each tool call still being built: the next one waits for it, so a console never sees a call's statuses out of order. */
  readonly #toolCallSends = new Map<string, Promise<void>>();

  private readonly auth: AdminAuth;
  private readonly db: Db;
  private readonly logger: Logger;
  /** Records the subscription in the audit trail: watching the feed is reading the logs. */
  private readonly audit: (actor: AdminActor, ip: string) => Promise<void>;

  constructor(
    io: Server,
    deps: { auth: AdminAuth; db: Db; logger: Logger; audit: (actor: AdminActor, ip: string) => Promise<void> },
  ) {
    ({ auth: this.auth, db: this.db, logger: this.logger, audit: this.audit } = deps);
    this.nsp = io.of('/admin') as unknown as AdminNamespace;
    this.nsp.use((socket, next) => {
      const handshake = socket.handshake.auth as { token?: unknown; workspace?: unknown } | undefined;
      this.auth
        .authenticate({ cookie: socket.handshake.headers.cookie, token: handshake?.token, workspace: handshake?.workspace })
        .then((actor) => {
          if (!actor) {
            const error = new Error('unauthorized') as Error & { data?: unknown };
            error.data = { code: 'unauthorized' };
            return next(error);
          }
          socket.data.actor = actor;
          return this.audit(actor, socket.handshake.address).then(() => next());
        })
        .catch((error: unknown) => {
          if (error instanceof WorkspaceNotFoundError) {
            const refusal = new Error(error.body().code) as Error & { data?: unknown };
            refusal.data = error.body();
            return next(refusal);
          }
          this.logger.warn({ err: error }, 'admin feed authentication failed');
          next(new Error('internal_error'));
        });
    });
    // Joined as it connects, before any event can be sent to it.
    this.nsp.on('connection', (socket) => void socket.join(workspaceRoom(socket.data.actor.workspaceId)));
  }

  attach(events: PipelineEvents): void {
    this.#offs.push(
      events.on('tool-call.finished', (call) => this.sendToolCall(call)),
      events.on('tool-call.confirmed', (call) => this.sendToolCall(call)),
      events.on('handoff.changed', (event) =>
        this.send('handoff', async () => {
          const workspaceId = await this.workspaceOf(event.conversationId);
          return workspaceId === undefined ? undefined : { workspaceId, value: event };
        }),
      ),
      // An event of no conversation (an invoice's, a session of no checkout link) is the default workspace's.
      events.on('payment.processed', (event) =>
        this.send('payment', async () => {
          const workspaceId = event.conversationId === null ? DEFAULT_WORKSPACE_ID : await this.workspaceOf(event.conversationId);
          return workspaceId === undefined ? undefined : { workspaceId, value: event };
        }),
      ),
      events.on('message.held', ({ message, conversation }) =>
        this.send('message', () => ({ workspaceId: conversation.workspaceId, value: messageItem(message, conversation) })),
      ),
      events.on('message.appended', ({ message, conversation }) =>
        this.send('message', () => ({ workspaceId: conversation.workspaceId, value: messageItem(message, conversation) })),
      ),
      events.on('turn.finished', ({ message, conversation, outcome }) =>
        this.send('turn', () => ({
          workspaceId: conversation.workspaceId,
          value: {
            messageId: message.id,
            conversationId: conversation.id,
            channel: conversation.channel,
            status: outcome.status,
            provider: outcome.provider,
            latencyMs: outcome.latencyMs,
            fallback: outcome.fallback,
            cached: outcome.cached,
          },
        })),
      ),
    );
  }

  /**
   * A call's first event is `tool-call`; a later change of its status is `tool-call.status`. Both
   * carry the row as it is when sent. One call's events are sent in the order they happened.
   */
  private sendToolCall(call: ToolCallEvent): void {
    const sends = this.#toolCallSends;
    const previousStatus = call.previousStatus;
    const sent = (sends.get(call.id) ?? Promise.resolve()).then(() =>
      previousStatus === undefined
        ? this.send('tool-call', async () => {
            const found = await getToolCallListItem(this.db, call.id);
            return found && { workspaceId: found.workspaceId, value: found.item };
          })
        : this.send('tool-call.status', async () => {
            const found = await getToolCallListItem(this.db, call.id);
            return found && { workspaceId: found.workspaceId, value: { ...found.item, previousStatus } };
          }),
    );
    sends.set(call.id, sent);
    void sent.then(() => {
      if (sends.get(call.id) === sent) sends.delete(call.id);
    });
  }

  /**
   * Emits an event to the consoles of its workspace when somebody may watch it: a console
   * connected here, or another instance (a web instance's console, when this is a worker);
   * through the adapter, the event reaches their consoles. The adapter knows the other instances
   * without a Redis command per event (its SocketPeers, infra/socket-peers.ts). A lone instance
   * with no console connected builds and sends nothing.
   */
  private send<Event extends keyof AdminFeedEvents>(
    event: Event,
    payload: () => Addressed<Parameters<AdminFeedEvents[Event]>[0]> | Promise<Addressed<Parameters<AdminFeedEvents[Event]>[0]>>,
  ): Promise<void> {
    const watched = this.nsp.sockets.size > 0 ? Promise.resolve(true) : this.nsp.adapter.serverCount().then((count) => count > 1);
    return watched
      .then(async (yes) => {
        const addressed = yes ? await payload() : undefined;
        if (addressed?.value === undefined) return;
        (this.nsp.to(workspaceRoom(addressed.workspaceId)).emit as (name: string, value: unknown) => boolean)(event, addressed.value);
      })
      .catch((error: unknown) => this.logger.warn({ err: error, event }, 'admin feed: event not sent'));
  }

  /** The workspace of a conversation an event names only by id (a handoff's, a payment's); undefined if it is gone. */
  private async workspaceOf(conversationId: string): Promise<string | undefined> {
    const [row] = await this.db.select({ workspaceId: conversations.workspaceId }).from(conversations).where(eq(conversations.id, conversationId));
    return row?.workspaceId;
  }

  /** Closes the feed of one login session (after logout). */
  disconnectSession(sessionToken: string): void {
    for (const socket of this.nsp.sockets.values()) {
      const actor = socket.data.actor;
      if (actor?.kind === 'session' && actor.sessionToken === sessionToken) socket.disconnect(true);
    }
  }

  detach(): void {
    for (const off of this.#offs) off();
    this.#offs = [];
  }
}

/** A message of the feed: which conversation, whose, in what state; never its text. */
function messageItem(message: { id: string; role: string; status: string; author: string | null }, conversation: { id: string; channel: string }) {
  return { conversationId: conversation.id, messageId: message.id, channel: conversation.channel, role: message.role, status: message.status, author: message.author };
}
