import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { forkModule, PROJECT_ROOT, stopChild } from './child-processes.js';
import { frameCounts } from './chat-client.js';
import { distribution, type Distribution } from './percentiles.js';
import { readCpuMs, readIo, type IoReading } from './proc-stats.js';
import { Visitor, type SentMessage } from './visitor.js';

const PROGRAM = new URL('./bare-socket-server.ts', import.meta.url).pathname;
const START_TIMEOUT_MS = 30_000;

/**
 * The socket.io floor of a web turn: bench/bare-socket-server.ts in its own process, answering a
 * `message` with the ack, the same number of `reply.delta`s as Switchboard sent and a `reply.done`,
 * after the fake provider's latency. The same visitors as the scenario's drive it.
 */
export interface EchoFloor {
  messages: number;
  /** Client round trip minus the reply delay: socket.io's own share of a turn's latency. */
  latencyMs: Distribution;
  cpuMsPerMessage: number;
  writeSyscallsPerMessage: number;
  framesToClientPerMessage: number;
  /** Load only: messages completed per second in the window. */
  messagesPerSecond?: number;
  deltasPerMessage: number;
  replyDelayMs: number;
  /** Messages that failed (none expected from a server that does nothing else). */
  errors: number;
}

class BareServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(deltas: number, replyDelayMs: number): Promise<BareServer> {
    const child = forkModule(PROGRAM, [], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', BARE_DELTAS: String(deltas), BARE_REPLY_DELAY_MS: String(replyDelayMs) },
    });
    child.stderr?.pipe(process.stderr);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bare socket.io server not listening within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!line.includes('Switchboard listening')) return;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { address: string }).address);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`bare socket.io server exited with code ${code} before listening`));
      });
    });
    return new BareServer(child, url);
  }

  stop(): Promise<number | null> {
    return stopChild(this.child, 5_000);
  }
}

/** One visitor, one message at a time, as the serial scenario. */
export async function serialEchoFloor(options: { deltas: number; warmup: number; messages: number; label: string }): Promise<EchoFloor> {
  const server = await BareServer.start(options.deltas, 0);
  const visitor = new Visitor(server.url, options.label, 0);
  try {
    await visitor.connect();
    let errors = 0;
    const send = () =>
      visitor.sendNext().catch(() => {
        errors++;
        return undefined;
      });
    for (let i = 0; i < options.warmup; i++) await send();
    const cpuStart = readCpuMs(server.pid) ?? 0;
    const ioStart = readIo(server.pid);
    const framesStart = frameCounts.in;
    const rtts: number[] = [];
    for (let i = 0; i < options.messages && errors < 10; i++) {
      const sent = await send();
      if (sent) rtts.push(sent.rttMs);
    }
    const cpu = (readCpuMs(server.pid) ?? 0) - cpuStart;
    const ioEnd = readIo(server.pid);
    return {
      messages: options.messages,
      latencyMs: distribution(rtts),
      cpuMsPerMessage: round(cpu / options.messages),
      writeSyscallsPerMessage: ioStart && ioEnd ? round((ioEnd.syscw - ioStart.syscw) / options.messages) : NaN,
      framesToClientPerMessage: round((frameCounts.in - framesStart) / options.messages),
      deltasPerMessage: options.deltas,
      replyDelayMs: 0,
      errors,
    };
  } finally {
    visitor.close();
    await server.stop();
  }
}

/** The load scenario's closed loop (every socket sends again when its reply is done) against the bare server. */
export async function loadEchoFloor(options: {
  deltas: number;
  replyDelayMs: number;
  sockets: number;
  warmupSeconds: number;
  durationSeconds: number;
  label: string;
}): Promise<EchoFloor> {
  const server = await BareServer.start(options.deltas, options.replyDelayMs);
  const visitors = Array.from({ length: options.sockets }, (_, index) => new Visitor(server.url, `${options.label}-v${index}`, 0));
  const sent: SentMessage[] = [];
  try {
    for (let i = 0; i < visitors.length; i += 100) await Promise.all(visitors.slice(i, i + 100).map((visitor) => visitor.connect()));
    const start = performance.now();
    const measureStart = start + options.warmupSeconds * 1000;
    const measureEnd = measureStart + options.durationSeconds * 1000;
    const mark: { cpu: number; io: IoReading | undefined; frames: number } = { cpu: 0, io: undefined, frames: 0 };
    const startTimer = setTimeout(() => {
      mark.cpu = readCpuMs(server.pid) ?? 0;
      mark.io = readIo(server.pid);
      mark.frames = frameCounts.in;
    }, measureStart - start);
    let errors = 0;
    const loops = visitors.map(async (visitor) => {
      while (performance.now() < measureEnd) {
        try {
          sent.push(await visitor.sendNext());
        } catch {
          errors++;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, measureEnd - performance.now())));
    clearTimeout(startTimer);
    const cpu = (readCpuMs(server.pid) ?? 0) - mark.cpu;
    const ioEnd = readIo(server.pid);
    const ioStart = mark.io;
    const frames = frameCounts.in - mark.frames;
    await Promise.all(loops);
    const completed = sent.filter((message) => message.startedAt + message.rttMs >= measureStart && message.startedAt + message.rttMs <= measureEnd);
    const started = sent.filter((message) => message.startedAt >= measureStart && message.startedAt <= measureEnd);
    const count = Math.max(1, completed.length);
    return {
      messages: completed.length,
      latencyMs: distribution(started.map((message) => message.rttMs - options.replyDelayMs)),
      cpuMsPerMessage: round(cpu / count),
      writeSyscallsPerMessage: ioStart && ioEnd ? round((ioEnd.syscw - ioStart.syscw) / count) : NaN,
      framesToClientPerMessage: round(frames / count),
      messagesPerSecond: Math.round((completed.length / options.durationSeconds) * 10) / 10,
      deltasPerMessage: options.deltas,
      replyDelayMs: options.replyDelayMs,
      errors,
    };
  } finally {
    for (const visitor of visitors) visitor.close();
    await server.stop();
  }
}

const round = (value: number) => Math.round(value * 1000) / 1000;
