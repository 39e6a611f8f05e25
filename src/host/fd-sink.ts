/**
 * A ByteSink that writes to a file descriptor synchronously from any thread (serial output, logs). Retries short
 * writes and EAGAIN (stdout may be a non-blocking pipe), so output is never dropped silently.
 */
import { writeSync } from 'node:fs';

const retryWait = new Int32Array(new SharedArrayBuffer(4));
const RETRY_MS = 1;

export interface FdSink {
  write(bytes: Uint8Array): void;
}

export function fdSink(fd: number): FdSink {
  return {
    write(bytes: Uint8Array): void {
      let done = 0;
      while (done < bytes.length) {
        try {
          done += writeSync(fd, bytes, done, bytes.length - done);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
          // Wait for the reader to drain. Atomics.wait is unavailable on the main thread: spin there instead.
          try {
            Atomics.wait(retryWait, 0, 0, RETRY_MS);
          } catch {
            /* main thread: retry at once */
          }
        }
      }
    },
  };
}

/** A sink that discards everything (`--serial null`). */
export const nullSink: FdSink = { write: () => {} };

/** Writes text lines (logs) to a sink. */
export function lineWriter(sink: FdSink): (line: string) => void {
  const encoder = new TextEncoder();
  return (line) => sink.write(encoder.encode(`${line}\n`));
}
