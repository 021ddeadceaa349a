import type { Config } from '../config/config.js';
import { minorUnitRule } from '../config/currencies.js';

/** What the person is told of a payment event (PAYMENT_NOTICE_*); `{description}` and `{amount}` are filled in. */
export interface PaymentNotices {
  paid: string;
  processing: string;
  failed: string;
  expired: string;
  subscriptionStarted: string;
  subscriptionEnded: string;
  invoiceFailed: string;
}

export function paymentNoticesFrom(config: Config): PaymentNotices {
  return {
    paid: config.PAYMENT_NOTICE_PAID,
    processing: config.PAYMENT_NOTICE_PROCESSING,
    failed: config.PAYMENT_NOTICE_FAILED,
    expired: config.PAYMENT_NOTICE_EXPIRED,
    subscriptionStarted: config.PAYMENT_NOTICE_SUBSCRIPTION_STARTED,
    subscriptionEnded: config.PAYMENT_NOTICE_SUBSCRIPTION_ENDED,
    invoiceFailed: config.PAYMENT_NOTICE_INVOICE_FAILED,
  };
}

/** 4999 usd → "49.99 USD"; 5000 jpy → "5000 JPY" (Stripe's minor units, exactly, no float rounding). */
export function formatAmount(minor: number | null, currency: string | null): string {
  if (minor === null || !currency) return 'the amount due';
  const { exponent } = minorUnitRule(currency);
  const sign = minor < 0 ? '-' : '';
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return `${sign}${major} ${currency.toUpperCase()}`;
}

export function fill(template: string, values: { description?: string; amount?: string }): string {
  return template.replaceAll('{description}', values.description ?? 'your order').replaceAll('{amount}', values.amount ?? 'the amount due');
}
