import type { FastifyInstance } from 'fastify';
import { ConfigError, type Config } from '../config/config.js';
import type { MessagePipeline } from '../turn/message-pipeline.js';
import type { Db } from '../store/database.js';
import type { Logger } from '../observability/logger.js';
import { ChannelRecords } from '../store/channel-records.js';
import { createDeliveryRetry } from './delivery-retry.js';
import { OutboundDelivery } from './outbound-delivery.js';
import type { ConfirmationAnswerer } from './confirmation-answerer.js';
import type { SlackChannel } from './slack/slack-channel.js';
import type { TwilioChannel } from './twilio/twilio-channel.js';
import type { WhatsAppWebChannel, WhatsAppWebClient } from './whatsapp-web/whatsapp-web-channel.js';

export interface Channels {
  readonly slack: SlackChannel | undefined;
  readonly sms: TwilioChannel | undefined;
  readonly whatsapp: TwilioChannel | undefined;
  /** Its `pairing` ({ state, qr }) is what the admin view shows for QR pairing. */
  readonly whatsappWeb: WhatsAppWebChannel | undefined;
  /** Delivery outcomes (`listDeliveries({ status: 'failed' })` for the admin log), opt-outs. */
  readonly records: ChannelRecords;
  close(): Promise<void>;
}

export interface ChannelDeps {
  http: FastifyInstance;
  pipeline: MessagePipeline;
  db: Db;
  logger: Logger;
  /** Sensitive-tool confirmations: Slack buttons, SMS/WhatsApp YES/NO. */
  confirmations?: ConfirmationAnswerer;
  /** Replaces the real whatsapp-web.js client (a documented seam for tests: no browser is started). */
  whatsAppWebClient?: () => WhatsAppWebClient;
}

/**
 * Mounts every channel whose settings are present; the others cost nothing: a channel's
 * module and SDK (@slack/bolt, twilio, whatsapp-web.js) are loaded only when it is configured.
 */
export async function mountChannels(config: Config, deps: ChannelDeps): Promise<Channels> {
  const { http, pipeline, logger } = deps;
  const confirmations = deps.confirmations ? { confirmations: deps.confirmations } : {};
  const records = new ChannelRecords(deps.db);
  const delivery = new OutboundDelivery(
    records,
    createDeliveryRetry({
      maxAttempts: config.CHANNEL_DELIVERY_ATTEMPTS,
      baseDelayMs: config.CHANNEL_DELIVERY_BASE_DELAY_MS,
      maxDelayMs: config.CHANNEL_DELIVERY_MAX_DELAY_MS,
    }),
    logger,
  );

  let slack: SlackChannel | undefined;
  if (config.SLACK_SIGNING_SECRET && config.SLACK_BOT_TOKEN) {
    const { SlackChannel } = await import('./slack/slack-channel.js');
    slack = new SlackChannel({
      signingSecret: config.SLACK_SIGNING_SECRET.reveal(),
      botToken: config.SLACK_BOT_TOKEN.reveal(),
      ...(config.SLACK_API_URL && { apiUrl: config.SLACK_API_URL }),
      slashCommand: config.SLACK_SLASH_COMMAND,
      pipeline,
      records,
      delivery,
      logger,
      ...confirmations,
    });
    await slack.mount(http);
    logger.info({ channel: 'slack' }, 'Slack channel mounted at POST /slack/events');
  } else if (config.SLACK_SIGNING_SECRET || config.SLACK_BOT_TOKEN) {
    logger.warn('Slack needs both SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN; the Slack channel is off');
  }

  let sms: TwilioChannel | undefined;
  let whatsapp: TwilioChannel | undefined;
  if (config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN) {
    if (!config.PUBLIC_URL) throw new ConfigError('Invalid configuration: PUBLIC_URL is required when TWILIO_ACCOUNT_SID is set (webhook signatures are checked against it)');
    if (!config.TWILIO_SMS_FROM && !config.TWILIO_WHATSAPP_FROM) {
      throw new ConfigError('Invalid configuration: TWILIO_SMS_FROM or TWILIO_WHATSAPP_FROM is required when TWILIO_ACCOUNT_SID is set');
    }
    const [{ default: twilio }, { RewritingRequestClient }, { TwilioChannel }] = await Promise.all([
      import('twilio'),
      import('./twilio/rewriting-request-client.js'),
      import('./twilio/twilio-channel.js'),
    ]);
    const client = twilio(config.TWILIO_ACCOUNT_SID, config.TWILIO_AUTH_TOKEN.reveal(), {
      httpClient: config.TWILIO_API_URL ? new RewritingRequestClient(config.TWILIO_API_URL) : new twilio.RequestClient({ autoRetry: false }),
    });
    const shared = {
      authToken: config.TWILIO_AUTH_TOKEN.reveal(),
      publicUrl: config.PUBLIC_URL,
      client,
      pipeline,
      records,
      delivery,
      helpText: config.SMS_HELP_TEXT,
      logger,
      ...confirmations,
    };
    if (config.TWILIO_SMS_FROM) {
      sms = new TwilioChannel({ ...shared, channel: 'sms', from: config.TWILIO_SMS_FROM });
      await sms.mount(http);
    }
    if (config.TWILIO_WHATSAPP_FROM) {
      const from = config.TWILIO_WHATSAPP_FROM.startsWith('whatsapp:') ? config.TWILIO_WHATSAPP_FROM : `whatsapp:${config.TWILIO_WHATSAPP_FROM}`;
      whatsapp = new TwilioChannel({ ...shared, channel: 'whatsapp', from });
      await whatsapp.mount(http);
    }
    logger.info({ sms: Boolean(sms), whatsapp: Boolean(whatsapp) }, 'Twilio channels mounted at POST /twilio/sms, /twilio/whatsapp');
  }

  let whatsappWeb: WhatsAppWebChannel | undefined;
  if (config.WHATSAPP_WEB_ENABLED) {
    const [{ WhatsAppWebChannel }, { printQrInTerminal, whatsAppWebClientFactory }] = await Promise.all([
      import('./whatsapp-web/whatsapp-web-channel.js'),
      import('./whatsapp-web/create-whatsapp-web-client.js'),
    ]);
    whatsappWeb = new WhatsAppWebChannel({
      createClient: deps.whatsAppWebClient ?? (await whatsAppWebClientFactory({ dataDir: config.DATA_DIR, chromiumPath: config.CHROMIUM_PATH })),
      pipeline,
      records,
      delivery,
      logger,
      reconnectDelayMs: config.WHATSAPP_WEB_RECONNECT_DELAY_MS,
      ...confirmations,
      onQr: (qr) => {
        logger.info({ channel: 'whatsapp-web' }, 'scan the QR code with WhatsApp (Linked devices) to pair');
        // The terminal rendering is for an operator watching the real session, not for test clients.
        if (!deps.whatsAppWebClient) void printQrInTerminal(qr).catch(() => undefined);
      },
    });
    whatsappWeb.start();
  }

  return {
    slack,
    sms,
    whatsapp,
    whatsappWeb,
    records,
    async close() {
      await whatsappWeb?.stop();
    },
  };
}
