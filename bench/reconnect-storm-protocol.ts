/** IPC messages between bench/reconnect-storm.ts and its client processes (bench/reconnect-storm-clients.ts). */

export type ToClients =
  /** Open `count` clients to `url` one batch at a time; answer `connected`. */
  | { type: 'connect'; url: string; count: number; delayMaxMs: number; transports: string[] }
  /** Forget earlier sessions and reconnect attempts: the storm starts now. */
  | { type: 'mark' }
  /** Answer `report` with what happened since `mark`. */
  | { type: 'report' }
  | { type: 'close' };

export interface FirstSession {
  conversationId: string;
  /** sha256 of the token, so the bench can store the conversation as if the visitor had written. */
  tokenHash: string;
}

export interface ClientOutcome {
  /** When the client's `session` arrived after `mark` (epoch ms), if it did. */
  sessionAt?: number;
  /** When socket.io-client started the reconnect attempt that succeeded (epoch ms). */
  attemptAt?: number;
  /** Reconnect attempts after `mark`, the successful one included. */
  attempts: number;
  /** The session after the restart carried the conversation the client had before. */
  resumed: boolean;
  /** Failed attempts after `mark`: when each started and how it failed (epoch ms, socket.io-client's message). */
  failures: { attemptAt: number; failedAt: number; error: string }[];
}

export type FromClients =
  | { type: 'connected'; sessions: FirstSession[] }
  | { type: 'progress'; reconnected: number }
  /** eventLoopDelayMs: how late this process's event loop ran after `mark` (p99, max): lag here delays every client's figures. */
  | { type: 'report'; outcomes: ClientOutcome[]; eventLoopDelayMs: { p99: number; max: number } };
