import { buildDist } from './helpers/build-dist.js';

/**
 * Tests that start the server as a child process run it as production does, compiled
 * (`node dist/main.js`): dist/ is built once here, before any test file, not once per test.
 */
export default async function buildOnce(): Promise<void> {
  await buildDist();
}
