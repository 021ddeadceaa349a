import type { Namespace, Server } from 'socket.io';
import type { PipelineEvents } from '../observability/events.js';
import type { Db } from '../store/database.js';
import type { Logger } from '../observability/logger.js';
import type { AdminActor, AdminAuth } from './admin-auth.js';
import { getToolCallListItem, type ToolCallListItem } from './tool-call-query.js';

/** Events on the `/admin` socket.io namespace (server → client only). */
export interface AdminFeedEvents {
  /** A tool call finished: the same redacted shape as a row of GET /api/admin/tool-calls. */
  'tool-call': (item: ToolCallListItem) => void;
  /** A turn finished (no text, only its outcome). */
  turn: (turn: { messageId: string; conversationId: string; channel: string; status: string; provider: string | null; latencyMs: number; fallback: boolean; cached: boolean }) => void;
}

type AdminNamespace = Namespace<Record<string, never>, AdminFeedEvents, Record<string, never>, { actor: AdminActor }>;

/**
 * The live feed of the admin console: a separate namespace on the app's socket.io
 * server, authenticated in `nsp.use()` by the session cookie of the handshake or
 * `auth.token` = ADMIN_TOKEN. Failures reach the client as `connect_error` with
 * `err.data.code = 'unauthorized'`. Emitting never blocks or breaks a turn.
 */
export class AdminLiveFeed {
  readonly nsp: AdminNamespace;
  #offs: (() => void)[] = [];

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
      this.auth
        .authenticate({ cookie: socket.handshake.headers.cookie, token: (socket.handshake.auth as { token?: unknown })?.token })
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
          this.logger.warn({ err: error }, 'admin feed authentication failed');
          next(new Error('internal_error'));
        });
    });
  }

  attach(events: PipelineEvents): void {
    this.#offs.push(
      events.on('tool-call.finished', (call) => {
        if (this.nsp.sockets.size === 0) return;
        getToolCallListItem(this.db, call.id)
          .then((item) => item && this.nsp.emit('tool-call', item))
          .catch((error: unknown) => this.logger.warn({ err: error, messageId: call.messageId }, 'admin feed: tool call not sent'));
      }),
      events.on('turn.finished', ({ message, conversation, outcome }) => {
        if (this.nsp.sockets.size === 0) return;
        this.nsp.emit('turn', {
          messageId: message.id,
          conversationId: conversation.id,
          channel: conversation.channel,
          status: outcome.status,
          provider: outcome.provider,
          latencyMs: outcome.latencyMs,
          fallback: outcome.fallback,
          cached: outcome.cached,
        });
      }),
    );
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
