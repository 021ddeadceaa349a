import { describe, expect, it } from 'vitest';
import { csvCell } from '../src/admin/tool-call-export.js';
import { luhnValid, redactLogObject, redactText, redactValue } from '../src/observability/redaction.js';

/** The one redaction policy shared by the admin API, its UI, exports and the logs. */
describe('redaction', () => {
  it('masks emails and phone numbers in list mode and keeps them in detail mode', () => {
    const text = 'Mail alice.smith+vip@example.co.uk or call +1 (415) 555-0167 / 020 7946 0958';
    expect(redactText(text, 'list')).toBe('Mail a***@example.co.uk or call ***67 / ***58');
    expect(redactText(text, 'detail')).toBe(text);
  });

  it('always masks card numbers (Luhn-valid only) and credentials', () => {
    for (const mode of ['list', 'detail'] as const) {
      expect(redactText('card 4242-4242-4242-4242 exp 12/30', mode)).toBe('card [card] exp 12/30');
      expect(redactText('key sk_live_51HqLyjWDarjtT1zdp7dc and sk-proj-abcdefghijklmnop1234', mode)).toBe('key [redacted] and [redacted]');
      expect(redactText('Authorization: Bearer eyJhbGciOi.abc', mode)).toBe('Authorization: [redacted]');
      expect(redactText('slack xoxb-1234567890-abcdefghij', mode)).toBe('slack [redacted]');
    }
    expect(luhnValid('4242424242424242')).toBe(true);
    expect(luhnValid('4242424242424241')).toBe(false);
    // Not a card: fails Luhn, so order numbers stay readable.
    expect(redactText('order 1234567890123456', 'detail')).toBe('order 1234567890123456');
  });

  it('leaves ordinary values alone: dates, amounts, ids, uuids', () => {
    const text = 'on 2026-03-01 pay 49.99 USD for ord_42, id 7f9c2ba4-e88f-4e2b-8c6a-123456789012';
    expect(redactText(text, 'list')).toBe(text);
  });

  it('redacts JSON deeply: credential keys whatever their value, cards as numbers too, without mutating', () => {
    const input = {
      email: 'bob@example.org',
      nested: [{ password: 'hunter2', apiKey: 'abc', accessToken: 'xyz', cvc: '123', note: 'tel +44 20 7946 0958' }],
      cardNumber: 4242424242424242,
      amount: 12,
      token: null,
    };
    const copy = structuredClone(input);
    expect(redactValue(input, 'list')).toEqual({
      email: 'b***@example.org',
      nested: [{ password: '[redacted]', apiKey: '[redacted]', accessToken: '[redacted]', cvc: '[redacted]', note: 'tel ***58' }],
      cardNumber: '[redacted]',
      amount: 12,
      token: null,
    });
    expect(redactValue({ n: 4242424242424242 }, 'detail')).toEqual({ n: '[card]' });
    expect(input).toEqual(copy);
  });

  it('redacts log objects in list mode and leaves errors to their serializer', () => {
    const error = new Error('boom');
    const out = redactLogObject({ msgId: 'm1', detail: { to: '+14155550167' }, err: error, list: ['a@b.io'] });
    expect(out).toEqual({ msgId: 'm1', detail: { to: '***67' }, err: error, list: ['a***@b.io'] });
  });

  it('quotes CSV cells and neutralises spreadsheet formulas', () => {
    expect(csvCell('=SUM(A1)')).toBe(`"'=SUM(A1)"`);
    expect(csvCell('+1')).toBe(`"'+1"`);
    expect(csvCell('say "hi", ok')).toBe('"say ""hi"", ok"');
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(null)).toBe('');
    expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
  });
});
