import type { ChannelFactory } from '../channel.js';

/**
 * WhatsApp through whatsapp-web.js, when WHATSAPP_WEB_ENABLED. The pairing QR is logged,
 * shown in the admin console, and drawn in the terminal when the server runs in one
 * (stdout is a TTY): an operator watching a real session, never a log collector.
 */
export const whatsAppWebChannels: ChannelFactory = async (config, { logger, seams }) => {
  if (!config.WHATSAPP_WEB_ENABLED) return [];
  const [{ WhatsAppWebChannel }, { printQrInTerminal, whatsAppWebClientFactory }] = await Promise.all([
    import('./whatsapp-web-channel.js'),
    import('./create-whatsapp-web-client.js'),
  ]);
  const drawsQr = process.stdout.isTTY === true;
  return [
    new WhatsAppWebChannel({
      createClient: seams.whatsAppWebClient ?? (await whatsAppWebClientFactory({ dataDir: config.DATA_DIR, chromiumPath: config.CHROMIUM_PATH })),
      reconnectDelayMs: config.WHATSAPP_WEB_RECONNECT_DELAY_MS,
      onQr: (qr) => {
        logger.info({ channel: 'whatsapp-web' }, 'scan the QR code with WhatsApp (Linked devices) to pair');
        if (drawsQr) void printQrInTerminal(qr).catch(() => undefined);
      },
    }),
  ];
};
