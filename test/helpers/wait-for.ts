/**
 * Reads `read` every 25 ms until it gives a truthy value, and returns that value. After
 * `timeoutMs` it fails with "timed out waiting for <what>", so a failing case names what never came.
 */
export async function waitFor<T>(read: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
