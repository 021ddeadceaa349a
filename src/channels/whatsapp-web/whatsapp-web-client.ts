/** The fields of whatsapp-web.js's `Message` (event `message`) the channel reads. */
export interface WhatsAppWebMessage {
  id: { _serialized: string; fromMe: boolean; remote: string; id: string };
  from: string;
  to: string;
  body: string;
  type: string;
  fromMe: boolean;
  isStatus: boolean;
  broadcast?: boolean;
  /** The sender inside a group chat. */
  author?: string;
  timestamp: number;
}

/** The part of whatsapp-web.js's `Client` the channel uses; a new one is made per (re)connection. */
export interface WhatsAppWebClient {
  on(event: 'qr', listener: (qr: string) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  on(event: 'authenticated', listener: () => void): unknown;
  on(event: 'auth_failure', listener: (message: string) => void): unknown;
  on(event: 'disconnected', listener: (reason: string) => void): unknown;
  on(event: 'message', listener: (message: WhatsAppWebMessage) => void): unknown;
  initialize(): Promise<void>;
  destroy(): Promise<void>;
  sendMessage(chatId: string, content: string): Promise<{ id: { _serialized: string } }>;
}
