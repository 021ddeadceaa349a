/**
 * The ISO 4217 currencies Stripe can charge in, and how a major-unit amount becomes
 * the integer `unit_amount` Stripe expects. Source: docs.stripe.com/currencies
 * ("Supported presentment currencies", "Zero-decimal currencies", "Three-decimal
 * currencies", "Special cases").
 */

/** Stripe's presentment currencies, upper-case as ISO 4217 writes them (Stripe wants lower-case on the wire). */
export const STRIPE_CURRENCIES: ReadonlySet<string> = new Set([
  'AED', 'AFN', 'ALL', 'AMD', 'ANG', 'AOA', 'ARS', 'AUD', 'AWG', 'AZN', 'BAM', 'BBD', 'BDT', 'BGN',
  'BHD', 'BIF', 'BMD', 'BND', 'BOB', 'BRL', 'BSD', 'BWP', 'BYN', 'BZD', 'CAD', 'CDF', 'CHF', 'CLP',
  'CNY', 'COP', 'CRC', 'CVE', 'CZK', 'DJF', 'DKK', 'DOP', 'DZD', 'EGP', 'ETB', 'EUR', 'FJD', 'FKP',
  'GBP', 'GEL', 'GIP', 'GMD', 'GNF', 'GTQ', 'GYD', 'HKD', 'HNL', 'HRK', 'HTG', 'HUF', 'IDR', 'ILS',
  'INR', 'ISK', 'JMD', 'JOD', 'JPY', 'KES', 'KGS', 'KHR', 'KMF', 'KRW', 'KWD', 'KYD', 'KZT', 'LAK',
  'LBP', 'LKR', 'LRD', 'LSL', 'MAD', 'MDL', 'MGA', 'MKD', 'MMK', 'MNT', 'MOP', 'MUR', 'MVR', 'MWK',
  'MXN', 'MYR', 'MZN', 'NAD', 'NGN', 'NIO', 'NOK', 'NPR', 'NZD', 'OMR', 'PAB', 'PEN', 'PGK', 'PHP',
  'PKR', 'PLN', 'PYG', 'QAR', 'RON', 'RSD', 'RUB', 'RWF', 'SAR', 'SBD', 'SCR', 'SEK', 'SGD', 'SHP',
  'SLE', 'SOS', 'SRD', 'STD', 'SZL', 'THB', 'TJS', 'TND', 'TOP', 'TRY', 'TTD', 'TWD', 'TZS', 'UAH',
  'UGX', 'USD', 'UYU', 'UZS', 'VND', 'VUV', 'WST', 'XAF', 'XCD', 'XOF', 'XPF', 'YER', 'ZAR', 'ZMW',
]);

const ZERO_DECIMAL = new Set([
  'BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF',
]);
const THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/** How Stripe counts one currency's amounts. */
export interface MinorUnitRule {
  /** Digits after the decimal point in Stripe's integer amounts: 100 means 1.00 when this is 2. */
  exponent: 0 | 2 | 3;
  /** Stripe only accepts integer amounts that are a multiple of this. */
  step: number;
  /** Why `step` is not 1, for the error message. */
  stepReason?: string;
}

export function isStripeCurrency(code: string): boolean {
  return STRIPE_CURRENCIES.has(code.toUpperCase());
}

export function minorUnitRule(code: string): MinorUnitRule {
  const upper = code.toUpperCase();
  if (ZERO_DECIMAL.has(upper)) return { exponent: 0, step: 1 };
  if (THREE_DECIMAL.has(upper)) {
    return { exponent: 3, step: 10, stepReason: `Stripe requires the last of ${upper}'s three decimal places to be 0` };
  }
  // ISK is two-decimal in the API, but card networks only take whole krónur.
  if (upper === 'ISK') return { exponent: 2, step: 100, stepReason: 'Stripe only accepts whole krónur' };
  return { exponent: 2, step: 1 };
}

export type MinorUnits = { ok: true; value: number } | { ok: false; reason: string };

/**
 * 49.99 USD → 4999, 4900 JPY → 4900, 1.5 KWD → 1500. Works on the number's decimal
 * text, never on `amount * 100` (19.99 * 100 is 1998.9999999999998), and rejects
 * amounts finer than the currency allows instead of rounding them.
 */
export function toMinorUnits(amount: number, currency: string): MinorUnits {
  const code = currency.toUpperCase();
  const rule = minorUnitRule(code);
  const decimal = decimalOf(amount);
  if (!decimal || decimal.negative) return { ok: false, reason: `${amount} is not a positive amount` };
  if (decimal.scale > rule.exponent) {
    const reason =
      rule.exponent === 0
        ? `${code} has no minor unit, so the amount must be a whole number (got ${amount})`
        : `${code} amounts can have at most ${rule.exponent} decimal places (got ${amount})`;
    return { ok: false, reason };
  }
  const minor = decimal.digits * 10n ** BigInt(rule.exponent - decimal.scale);
  if (minor % BigInt(rule.step) !== 0n) {
    const stepInMajor = formatMinor(BigInt(rule.step), rule.exponent);
    const must = stepInMajor === '1' ? 'be whole numbers' : `be a multiple of ${stepInMajor}`;
    return { ok: false, reason: `${code} amounts must ${must}: ${rule.stepReason} (got ${amount})` };
  }
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: `${amount} ${code} is too large` };
  return { ok: true, value: Number(minor) };
}

/** The largest whole number of minor units not above `amount` (for caps, which need not fit the currency). */
export function floorToMinorUnits(amount: number, currency: string): bigint {
  const { exponent } = minorUnitRule(currency);
  const decimal = decimalOf(amount);
  if (!decimal) return 0n;
  const signed = decimal.negative ? -decimal.digits : decimal.digits;
  if (decimal.scale <= exponent) return signed * 10n ** BigInt(exponent - decimal.scale);
  const divisor = 10n ** BigInt(decimal.scale - exponent);
  const quotient = signed / divisor;
  return signed < 0n && signed % divisor !== 0n ? quotient - 1n : quotient;
}

/** Exact decimal value of a finite number as `digits × 10^-scale`, from its shortest round-trip text. */
function decimalOf(value: number): { negative: boolean; digits: bigint; scale: number } | undefined {
  if (!Number.isFinite(value)) return undefined;
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(value));
  if (!match) return undefined;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  let digits = whole + fraction;
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    digits += '0'.repeat(-scale);
    scale = 0;
  }
  while (scale > 0 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale -= 1;
  }
  return { negative: sign === '-', digits: BigInt(digits), scale };
}

function formatMinor(minor: bigint, exponent: number): string {
  if (exponent === 0) return minor.toString();
  const text = minor.toString().padStart(exponent + 1, '0');
  return `${text.slice(0, -exponent)}.${text.slice(-exponent)}`.replace(/\.?0+$/, '');
}
