import type { ChildProcess } from 'node:child_process';
import { forkModule, stopChild } from './child-processes.js';
import type { FakeProviderMessage, ProviderTiming } from './fake-provider-protocol.js';

const PROGRAM = new URL('./fake-provider-process.ts', import.meta.url).pathname;
const START_TIMEOUT_MS = 30_000;
const REPLY_TIMEOUT_MS = 30_000;

/** The parent's handle on the fake provider process. */
export class FakeProvider {
  private constructor(
    private readonly child: ChildProcess,
    /** The OpenAI SDK base URL (`…/v1`). */
    readonly url: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(options: { latencyMs: number; chunkSize: number }): Promise<FakeProvider> {
    const child = forkModule(PROGRAM, [`--latency=${options.latencyMs}`, `--chunk-size=${options.chunkSize}`], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production' },
    });
    child.stderr?.pipe(process.stderr);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake provider not ready within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.on('message', (message: FakeProviderMessage) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        resolve(message.url);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fake provider exited with code ${code} before it was ready`));
      });
    });
    // Its stdout only repeats the URL; keep the pipe drained.
    child.stdout?.resume();
    return new FakeProvider(child, url);
  }

  /** The fake's own time per message text since the last call; clears them. */
  async takeTimings(): Promise<{ timings: Map<string, ProviderTiming>; untagged: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fake provider did not report its timings')), REPLY_TIMEOUT_MS);
      const onMessage = (message: FakeProviderMessage) => {
        if (message.type !== 'timings') return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve({ timings: new Map(message.entries), untagged: message.untagged });
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'take-timings' });
    });
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 5_000);
  }
}
