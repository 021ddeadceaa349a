import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';

/** socket.io-parser's own limit (`maxAttachments`), kept: each attachment is a frame held in memory until the packet is whole. */
export const MAX_ATTACHMENTS = 10;

/** The event a refused packet becomes, answered by the web channel with an error ack. */
export const TOO_MANY_ATTACHMENTS_EVENT = 'switchboard:too-many-attachments';

/**
 * socket.io's parser, except that a packet with more binary attachments than the limit is
 * answered instead of killing the connection: the stock decoder throws "too many attachments"
 * before it has read the packet's ack id, and socket.io then closes the socket with no ack
 * (the client only sees a disconnect). Here the header is read (namespace and ack id), the
 * attachment frames are read and dropped, and the packet becomes a TOO_MANY_ATTACHMENTS_EVENT
 * with the same ack id, so the sender gets a precise error and keeps its connection.
 */
class BoundedDecoder extends Decoder {
  #dropping: { remaining: number; packet: Packet } | undefined;

  override add(obj: unknown): void {
    if (this.#dropping) {
      if (typeof obj !== 'string') {
        this.#dropping.remaining--;
        if (this.#dropping.remaining === 0) {
          const { packet } = this.#dropping;
          this.#dropping = undefined;
          this.emitReserved('decoded', packet);
        }
        return;
      }
      // A text frame before the attachments are all in: the stock decoder refuses this too.
      this.#dropping = undefined;
    }
    if (typeof obj === 'string') {
      const refused = oversizedBinaryPacket(obj);
      if (refused) {
        this.#dropping = { remaining: refused.attachments, packet: refused.packet };
        return;
      }
    }
    super.add(obj);
  }
}

/** The header of a binary packet with too many attachments (`5<n>-[/nsp,][id][...]`), or undefined. */
function oversizedBinaryPacket(text: string): { attachments: number; packet: Packet } | undefined {
  const type = Number(text.charAt(0));
  if (type !== PacketType.BINARY_EVENT && type !== PacketType.BINARY_ACK) return undefined;
  const dash = text.indexOf('-');
  const count = text.slice(1, dash);
  if (dash < 2 || !/^\d{1,6}$/.test(count) || Number(count) <= MAX_ATTACHMENTS) return undefined;
  let i = dash + 1;
  let nsp = '/';
  if (text.charAt(i) === '/') {
    const comma = text.indexOf(',', i);
    nsp = comma === -1 ? text.slice(i) : text.slice(i, comma);
    i = comma === -1 ? text.length : comma + 1;
  }
  const idDigits = /^\d+/.exec(text.slice(i))?.[0];
  // An ack of ours cannot carry attachments we asked for: nothing to answer, only to drop.
  const packet: Packet = {
    type: PacketType.EVENT,
    nsp,
    data: [TOO_MANY_ATTACHMENTS_EVENT, Number(count)],
    ...(type === PacketType.BINARY_EVENT && idDigits !== undefined && { id: Number(idDigits) }),
  };
  return { attachments: Number(count), packet };
}

/** For socket.io's `parser` option. */
export const boundedParser = { Encoder, Decoder: BoundedDecoder };
