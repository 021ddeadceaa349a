import { join } from 'node:path';
import type { WhatsAppWebClient } from './whatsapp-web-channel.js';

/**
 * The real whatsapp-web.js client: LocalAuth keeps the linked-device session in
 * DATA_DIR/whatsapp-web (so a restart does not ask for a new QR), and puppeteer
 * drives the system Chromium (never a downloaded browser). Loaded lazily so a
 * server without WhatsApp never loads puppeteer.
 */
export async function whatsAppWebClientFactory(options: { dataDir: string; chromiumPath: string }): Promise<() => WhatsAppWebClient> {
  const { default: wweb } = await import('whatsapp-web.js');
  return () =>
    new wweb.Client({
      authStrategy: new wweb.LocalAuth({ dataPath: join(options.dataDir, 'whatsapp-web') }),
      puppeteer: {
        executablePath: options.chromiumPath,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage'],
      },
    }) as unknown as WhatsAppWebClient;
}

/** Prints the pairing QR in the terminal, as whatsapp-web.js's own examples do. */
export async function printQrInTerminal(qr: string): Promise<void> {
  // qrcode-terminal ships no types; this is the one function we call.
  const module = (await import('qrcode-terminal' as string)) as { default: { generate(text: string, options: { small: boolean }): void } };
  module.default.generate(qr, { small: true });
}
