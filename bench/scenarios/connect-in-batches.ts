/** Runs `connect` for every item, `batchSize` at a time; returns the error messages (empty when all connected). */
export async function connectInBatches<T>(items: readonly T[], batchSize: number, connect: (item: T) => Promise<unknown>): Promise<string[]> {
  const errors: string[] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    const batch = items.slice(start, start + batchSize);
    const outcomes = await Promise.allSettled(batch.map(connect));
    for (const outcome of outcomes) if (outcome.status === 'rejected') errors.push(String(outcome.reason));
  }
  return errors;
}
