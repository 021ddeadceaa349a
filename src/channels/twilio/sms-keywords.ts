/**
 * The opt-out keywords carriers and Twilio recognise (the whole message, any case).
 * They are handled by the channel and never reach the agent.
 */
const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE']);
const START = new Set(['START', 'UNSTOP', 'YES', 'OPTIN']);
const HELP = new Set(['HELP', 'INFO']);

export type SmsKeyword = 'stop' | 'start' | 'help';

export function smsKeyword(body: string): SmsKeyword | undefined {
  const word = body.trim().replace(/[.!]+$/, '').toUpperCase();
  if (STOP.has(word)) return 'stop';
  if (START.has(word)) return 'start';
  if (HELP.has(word)) return 'help';
  return undefined;
}
