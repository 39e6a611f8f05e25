/**
 * The event monitor (`--event-monitor path=PATH|fd=N`): reports VMM and VM lifecycle events as JSON, the way
 * Cloud Hypervisor does (event_monitor/src/lib.rs and vmm/src/lib.rs start_event_monitor_thread):
 * - each event is `serde_json::to_string_pretty` of `{ timestamp, source, event, properties }` in that field
 *   order, where timestamp is the time since the VMM started as serde serializes a Duration (`{ "secs": N,
 *   "nanos": N }`) and properties is a string-to-string map or `null`; serde_json's pretty printer (2-space indent,
 *   `": "`, `{}` for an empty map, only control characters, `"` and `\` escaped, as `\u00xx` in lowercase) writes
 *   exactly what `JSON.stringify(value, null, 2)` writes;
 * - the writer thread appends "\n\n" after each event, so events are separated by a blank line (upstream's tests
 *   split the file on "\n\n");
 * - `path=` is opened write/create/truncate (Nimbus creates it with mode 0600; upstream uses the default 0666 minus
 *   the umask), `fd=` is taken over as is, and the file is made non-blocking;
 * - every event is also logged at INFO as `Event: source = S event = E k = v, k2 = v2` (a trailing space when
 *   there are no properties), with or without a monitor file.
 * Event names (`event!` calls): vmm starting/shutdown; vm booting, booted, pausing, paused, resuming, resumed,
 * shutdown, deleted, rebooting, rebooted, resizing, resized, snapshotting, snapshotted, restoring, restored,
 * coredumping, device-removed {id, bdf}, migration-started/-memory-iteration {id}/-finished/-failed,
 * migration-receive-ready/-started/-finished/-failed, postcopy-migration-completed; virtio-device activated/reset
 * {id}; vdpa activated/reset {id}; guest panic {event}.
 *
 * Writing never blocks the main thread for long and never throws into the caller: a regular file (or another
 * non-pipe fd) is written synchronously, which the page cache makes fast; a pipe, FIFO or socket is written through
 * a non-blocking stream that queues what the reader has not taken yet, and drops events (with one warning) once
 * more than `maxBacklogBytes` are queued. The first write error (EPIPE when the reader went away, ENOSPC, ...) is
 * logged once and the monitor stops writing; events are still logged. Opening a FIFO path waits for its reader,
 * as upstream's blocking open does.
 */
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { NimbusError } from '../errors/nimbus-error.ts';
import type { Logger } from '../util/logger.ts';
import type { PathOrFd } from './config/vmm-options.ts';
import type { VmmEvents } from './vmm.ts';

export type EventMonitorErrorCode =
  /** `path=` could not be opened for writing. */
  | 'OPEN_FAILED'
  /** `fd=` is not an open file descriptor. */
  | 'BAD_FD';

export class EventMonitorError extends NimbusError<EventMonitorErrorCode> {}

/** An event's properties: string keys and values, in the order they are written. */
export type EventProperties = Readonly<Record<string, string>>;

const NANOS_PER_SECOND = 1_000_000_000n;
const MONITOR_FILE_MODE = 0o600;
const DEFAULT_MAX_BACKLOG_BYTES = 1 << 20;
const encoder = new TextEncoder();

/** One event as Cloud Hypervisor writes it: pretty-printed JSON followed by a blank line. */
export function formatEvent(elapsedNs: bigint, source: string, event: string, properties?: EventProperties): string {
  const nanos = elapsedNs > 0n ? elapsedNs : 0n;
  const record = {
    timestamp: { secs: Number(nanos / NANOS_PER_SECOND), nanos: Number(nanos % NANOS_PER_SECOND) },
    source,
    event,
    properties: properties ?? null,
  };
  return `${JSON.stringify(record, null, 2)}\n\n`;
}

/** Upstream's log line for an event (logged whether or not a monitor file is set). */
export function eventLogLine(source: string, event: string, properties?: EventProperties): string {
  const listed = Object.entries(properties ?? {})
    .map(([key, value]) => `${key} = ${value}`)
    .join(', ');
  return `Event: source = ${source} event = ${event} ${listed}`;
}

/** Where encoded events go. Failures are reported through the `fail` callback given at construction. */
interface EventSink {
  write(bytes: Uint8Array): void;
  /** Resolves once everything written so far has reached the fd, or failed to. */
  flushed(): Promise<void>;
  close(): void;
}

/** A regular file, character device or other non-pipe fd, written synchronously. */
class SyncFdSink implements EventSink {
  private readonly fd: number;
  private readonly fail: (error: unknown) => void;

  constructor(fd: number, fail: (error: unknown) => void) {
    this.fd = fd;
    this.fail = fail;
  }

  write(bytes: Uint8Array): void {
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done);
    } catch (error) {
      this.fail(error);
    }
  }

  flushed(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A pipe, FIFO or socket, written through a non-blocking libuv stream so a slow reader never blocks the VMM. */
class StreamSink implements EventSink {
  private readonly socket: Socket;
  private readonly maxBacklogBytes: number;
  private readonly overflow: () => void;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(fd: number, maxBacklogBytes: number, fail: (error: unknown) => void, overflow: () => void) {
    this.socket = new Socket({ fd, readable: false, writable: true });
    this.socket.on('error', fail);
    this.maxBacklogBytes = maxBacklogBytes;
    this.overflow = overflow;
  }

  write(bytes: Uint8Array): void {
    if (this.socket.writableLength + bytes.length > this.maxBacklogBytes) {
      this.overflow();
      return;
    }
    this.lastWrite = new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  flushed(): Promise<void> {
    return this.lastWrite;
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface EventMonitorOptions {
  readonly logger: Logger;
  /** `process.hrtime.bigint()` when the VMM started: event timestamps count from it. */
  readonly startTime: bigint;
  /** The clock read for each event's timestamp (default `process.hrtime.bigint`). */
  readonly now?: () => bigint;
  /** Bytes of events a pipe or socket reader may leave unread before further events are dropped (default 1 MiB). */
  readonly maxBacklogBytes?: number;
}

/** Reports events to the `--event-monitor` file, if any, and to the log. */
export class EventMonitor implements VmmEvents {
  private sink: EventSink | undefined;
  /** `path=...` or `fd=N`, for messages. */
  private readonly target: string;
  private readonly logger: Logger;
  private readonly startTime: bigint;
  private readonly now: () => bigint;
  private overflowReported = false;

  /**
   * Opens the monitor for `--event-monitor` (undefined: events are only logged). Throws EventMonitorError when
   * the path cannot be opened or the fd is not open.
   */
  static open(target: PathOrFd | undefined, options: EventMonitorOptions): EventMonitor {
    const monitor = new EventMonitor(target, options);
    if (target === undefined) return monitor;
    const fd = 'path' in target ? openPath(target.path) : checkFd(target.fd);
    const fail = (error: unknown): void => monitor.disable(error);
    try {
      const stats = fstatSync(fd);
      monitor.sink =
        stats.isFIFO() || stats.isSocket()
          ? new StreamSink(fd, options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES, fail, () => monitor.reportOverflow())
          : new SyncFdSink(fd, fail);
    } catch (cause) {
      closeSync(fd);
      const message = `--event-monitor: cannot write events to ${monitor.target}: ${(cause as Error).message}`;
      throw new EventMonitorError('OPEN_FAILED', message, { cause });
    }
    return monitor;
  }

  private constructor(target: PathOrFd | undefined, options: EventMonitorOptions) {
    this.target = target === undefined ? 'no file' : 'path' in target ? `path=${target.path}` : `fd=${target.fd}`;
    this.logger = options.logger;
    this.startTime = options.startTime;
    this.now = options.now ?? process.hrtime.bigint;
  }

  /** Whether events are still being written to the monitor file (false without one, or after a write error). */
  get writing(): boolean {
    return this.sink !== undefined;
  }

  /** Reports one event. Never throws: a write failure is logged once and ends the writing. */
  emit(source: string, event: string, properties?: EventProperties): void {
    try {
      this.logger.info(eventLogLine(source, event, properties));
      this.sink?.write(encoder.encode(formatEvent(this.now() - this.startTime, source, event, properties)));
    } catch (error) {
      this.disable(error);
    }
  }

  /** Resolves once the events emitted so far have been written (or dropped after a failure). */
  flushed(): Promise<void> {
    return this.sink?.flushed() ?? Promise.resolve();
  }

  /** Waits for the events emitted so far to be written, then closes the file; later events are only logged. */
  async close(): Promise<void> {
    await this.flushed();
    const sink = this.sink;
    this.sink = undefined;
    sink?.close();
  }

  private disable(error: unknown): void {
    const sink = this.sink;
    if (!sink) return;
    this.sink = undefined;
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    this.logger.warn(`event monitor: writing to ${this.target} failed (${reason}); no further events will be written there`);
    try {
      sink.close();
    } catch {
      // The fd is unusable already; nothing else to release.
    }
  }

  private reportOverflow(): void {
    if (this.overflowReported) return;
    this.overflowReported = true;
    this.logger.warn(`event monitor: the reader of ${this.target} is not keeping up; dropping events until it catches up`);
  }
}

function openPath(path: string): number {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, MONITOR_FILE_MODE);
  } catch (cause) {
    throw new EventMonitorError('OPEN_FAILED', `--event-monitor: cannot open ${path} for writing: ${(cause as Error).message}`, {
      cause,
    });
  }
}

function checkFd(fd: number): number {
  try {
    fstatSync(fd);
    return fd;
  } catch (cause) {
    const message = `--event-monitor: fd=${fd} is not an open file descriptor: ${(cause as Error).message}`;
    throw new EventMonitorError('BAD_FD', message, { cause });
  }
}
