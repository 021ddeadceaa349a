import { splitByWords } from '../split-by-words.js';
/**
 * Splitting replies into SMS-sized messages. One SMS carries 160 GSM-7 septets
 * (characters of the extension table take two) or, when any character is outside
 * GSM-7, 70 UCS-2 code units. Each part we send fits one SMS on its own, so no part
 * depends on the carrier reassembling concatenated segments.
 */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENSION = new Set('^{}\\[~]|€\f');

export const SMS_GSM7_LIMIT = 160;
export const SMS_UCS2_LIMIT = 70;
/** Twilio's limit for one WhatsApp message body. */
export const WHATSAPP_BODY_LIMIT = 1600;

export function isGsm7(text: string): boolean {
  for (const char of text) if (!GSM7_BASIC.has(char) && !GSM7_EXTENSION.has(char)) return false;
  return true;
}

/** Septets for GSM-7 text, UTF-16 code units otherwise: the unit the SMS limit counts. */
export function smsLength(text: string, gsm7: boolean): number {
  if (!gsm7) return text.length;
  let septets = 0;
  for (const char of text) septets += GSM7_EXTENSION.has(char) ? 2 : 1;
  return septets;
}

/** Splits text so each part fits one SMS; the encoding is decided once for the whole text. */
export function splitSms(text: string): string[] {
  const gsm7 = isGsm7(text);
  const limit = gsm7 ? SMS_GSM7_LIMIT : SMS_UCS2_LIMIT;
  return splitByWords(text, (chunk) => smsLength(chunk, gsm7) <= limit);
}

export function splitWhatsApp(text: string): string[] {
  return splitByWords(text, (chunk) => chunk.length <= WHATSAPP_BODY_LIMIT);
}
