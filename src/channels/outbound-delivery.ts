import type { RetryPolicy } from 'cockatiel';
import type { Logger } from '../observability/logger.js';
import type { ChannelRecords, DeliveryRecord } from '../store/channel-records.js';
import { deliverWithRetry } from './delivery-retry.js';

export interface OutboundParts {
  conversationId: string;
  messageId: string | null;
  channel: string;
  kind: DeliveryRecord['kind'];
  parts: string[];
  /** Sends one part; resolves to the provider's id for it (Slack ts, Twilio MessageSid). */
  send(part: string, index: number): Promise<string | undefined>;
}

/** Long digit runs in provider error messages are phone numbers; they never reach a row or a log. */
export const redactNumbers = (text: string): string => text.replace(/\+?\d[\d\s().-]{5,}\d/g, '[number]');

/**
 * Sends the parts of one reply in order, each under the shared retry policy, and
 * records the outcome in `channel_deliveries`. A part that fails for good stops the
 * rest (sending part 3 without part 2 would garble the answer) and marks the
 * delivery failed, which the admin view lists.
 */
export class OutboundDelivery {
  constructor(
    private readonly records: ChannelRecords,
    private readonly policy: RetryPolicy,
    private readonly logger: Logger,
  ) {}

  async deliver(outbound: OutboundParts): Promise<'sent' | 'failed' | 'suppressed'> {
    if (outbound.parts.length === 0) {
      await this.suppressed(outbound, 'empty reply: nothing to send');
      return 'suppressed';
    }
    let attempts = 0;
    const providerIds: string[] = [];
    for (const [index, part] of outbound.parts.entries()) {
      const result = await deliverWithRetry(this.policy, () => outbound.send(part, index));
      attempts += result.attempts;
      if (!result.ok) {
        const error = redactNumbers(result.error instanceof Error ? result.error.message : String(result.error));
        this.logger.error(
          { channel: outbound.channel, conversationId: outbound.conversationId, messageId: outbound.messageId, attempts, part: index, error },
          'channel delivery failed permanently',
        );
        await this.record({ ...this.identity(outbound), status: 'failed', attempts, parts: outbound.parts.length, error, providerIds });
        return 'failed';
      }
      if (result.value) providerIds.push(result.value);
    }
    await this.record({ ...this.identity(outbound), status: 'sent', attempts, parts: outbound.parts.length, providerIds });
    return 'sent';
  }

  /** A reply the channel cannot carry now (WhatsApp outside the 24-hour window, no template): kept, recorded with why. */
  async undeliverable(outbound: Omit<OutboundParts, 'send' | 'parts'>, reason: string): Promise<'undeliverable'> {
    await this.record({ ...this.identity(outbound), status: 'undeliverable', attempts: 0, parts: 0, error: reason });
    return 'undeliverable';
  }

  /** A reply deliberately not sent (e.g. the number opted out), recorded so admins see why. */
  async suppressed(outbound: Omit<OutboundParts, 'send' | 'parts'>, reason: string): Promise<void> {
    await this.record({ ...this.identity(outbound), status: 'suppressed', attempts: 0, parts: 0, error: reason });
  }

  private identity(outbound: Omit<OutboundParts, 'send' | 'parts'>): Pick<DeliveryRecord, 'conversationId' | 'messageId' | 'channel' | 'kind'> {
    return { conversationId: outbound.conversationId, messageId: outbound.messageId, channel: outbound.channel, kind: outbound.kind };
  }

  /** Recording is an observer: a failure to write the row is logged, never thrown into the turn. */
  private async record(record: DeliveryRecord): Promise<void> {
    await this.records
      .recordDelivery(record)
      .catch((error: unknown) => this.logger.error({ err: error, messageId: record.messageId }, 'delivery not recorded'));
  }
}
