/**
 * Drives a VMM process (Nimbus or QEMU) whose serial console is its stdio, as a person at the console would: wait
 * for the guest to print something (on stdout) or the VMM to log something (on stderr), type input into stdin,
 * send signals. Every wait has a deadline and names what it waited for along with the output so far, and the
 * session kills the process once its own time limit passes, so a hung guest fails the test instead of hanging it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface SessionExit {
  status: number | null;
  signal: NodeJS.Signals | null;
}

export type SessionStream = 'stdout' | 'stderr';

interface Waiter {
  /** What it waits for, for the failure message. */
  what: string;
  done: () => boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Output kept in failure messages (the tail of each stream). */
const FAILURE_TAIL_CHARS = 3000;

export class ConsoleSession {
  /** Resolves when the process has exited and its output is complete. */
  readonly exited: Promise<SessionExit>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly text: Record<SessionStream, string> = { stdout: '', stderr: '' };
  private readonly waiters = new Set<Waiter>();
  private exit: SessionExit | undefined;

  /** Starts `command args`; the process is killed with SIGKILL once `limitMs` has passed. */
  constructor(command: string, args: readonly string[], limitMs: number) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const limit = setTimeout(() => this.child.kill('SIGKILL'), limitMs);
    // The process may exit before reading all its input; a broken stdin pipe is not a test failure in itself.
    this.child.stdin.on('error', () => {});
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream].setEncoding('latin1').on('data', (chunk: string) => {
        this.text[stream] += chunk;
        this.settle();
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.on('close', (status, signal) => {
        clearTimeout(limit);
        this.exit = { status, signal };
        this.settle();
        resolve(this.exit);
      });
    });
  }

  /** Everything the process wrote to `stream` so far (decoded as latin1, one char per byte). */
  output(stream: SessionStream): string {
    return this.text[stream];
  }

  /** How many times `pattern` occurs in `stream` so far. */
  count(stream: SessionStream, pattern: RegExp): number {
    return countMatches(this.text[stream], pattern);
  }

  /** Resolves once `pattern` occurs `times` times in `stream`; rejects when the process exits first or after
   * `timeoutMs`. */
  waitFor(stream: SessionStream, pattern: RegExp, options: { times?: number; timeoutMs: number }): Promise<void> {
    const times = options.times ?? 1;
    const what = `${times} × ${String(pattern)} on ${stream}`;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        what,
        done: () => this.count(stream, pattern) >= times,
        resolve,
        reject,
        timer: setTimeout(() => this.fail(waiter, `timed out after ${options.timeoutMs} ms`), options.timeoutMs),
      };
      this.waiters.add(waiter);
      this.settle();
    });
  }

  /** Writes to the process's stdin (the guest's serial input). */
  write(data: string | Uint8Array): void {
    this.child.stdin.write(data);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Kills the process if it still runs and waits for it; for cleanup after a failed assertion. */
  async close(): Promise<SessionExit> {
    if (!this.exit) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** The output tails, for assertion messages. */
  describe(): string {
    const tail = (s: string): string => (s.length > FAILURE_TAIL_CHARS ? `…${s.slice(-FAILURE_TAIL_CHARS)}` : s);
    const exit = this.exit ? `exited with status ${this.exit.status} (signal ${this.exit.signal})` : 'still running';
    return `process ${exit}\nstdout:\n${tail(this.text.stdout)}\nstderr:\n${tail(this.text.stderr)}`;
  }

  private settle(): void {
    for (const waiter of this.waiters) {
      if (waiter.done()) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve();
      } else if (this.exit) {
        this.fail(waiter, 'the process exited');
      }
    }
  }

  private fail(waiter: Waiter, reason: string): void {
    if (!this.waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.reject(new Error(`${reason} while waiting for ${waiter.what}\n${this.describe()}`));
  }
}

export function countMatches(text: string, pattern: RegExp): number {
  const global = pattern.global ? pattern : new RegExp(pattern.source, `${pattern.flags}g`);
  return [...text.matchAll(global)].length;
}
