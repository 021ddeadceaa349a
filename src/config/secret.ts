/**
 * A credential that cannot be logged by accident: string conversion, JSON and
 * util.inspect all print "[redacted]". Read the value only where it is handed
 * to an SDK, with `reveal()`.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([redacted])';
  }
}

/**
 * A webhook secret as written (STRIPE_WEBHOOK_SECRET, META_APP_SECRET, a workspace's own): one, or
 * the old and the new comma-separated while rotating; every value is accepted.
 */
export function rotatingSecrets(secret: Secret | undefined): string[] {
  return (secret?.reveal() ?? '').split(',').map((value) => value.trim()).filter(Boolean);
}
