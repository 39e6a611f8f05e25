/**
 * Test doubles for the device unit tests: a byte sink that collects, a platform control and a logger that
 * record.
 */
import { LOG_LEVELS, type LogLevel, type Logger } from '../../src/util/logger.ts';
import type { ByteSink, PlatformControl } from '../../src/devices/device-contracts.ts';

export class CollectingSink implements ByteSink {
  readonly bytes: number[] = [];

  write(bytes: Uint8Array): void {
    this.bytes.push(...bytes);
  }

  text(): string {
    return String.fromCharCode(...this.bytes);
  }
}

export class RecordingPlatform implements PlatformControl {
  readonly requests: ('shutdown' | 'reset')[] = [];

  requestShutdown(): void {
    this.requests.push('shutdown');
  }

  requestReset(): void {
    this.requests.push('reset');
  }
}

/** Records every message with its level; `enabled` answers true for levels up to `level`. */
export class RecordingLogger implements Logger {
  readonly lines: { level: LogLevel; message: string }[] = [];
  private readonly levels: readonly LogLevel[];

  constructor(level: LogLevel = 'trace') {
    this.levels = LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
  }

  error(message: string): void {
    this.record('error', message);
  }
  warn(message: string): void {
    this.record('warn', message);
  }
  info(message: string): void {
    this.record('info', message);
  }
  debug(message: string): void {
    this.record('debug', message);
  }
  trace(message: string): void {
    this.record('trace', message);
  }
  enabled(level: LogLevel): boolean {
    return this.levels.includes(level);
  }

  private record(level: LogLevel, message: string): void {
    if (this.enabled(level)) this.lines.push({ level, message });
  }
}

/** Reads a port of `device` with an access of `width` bytes. */
export function portRead(device: { read(offset: number, data: Uint8Array): void }, offset: number, width = 1): number[] {
  const data = new Uint8Array(width).fill(0xaa);
  device.read(offset, data);
  return [...data];
}

/** Reads one byte register. */
export function inb(device: { read(offset: number, data: Uint8Array): void }, offset: number): number {
  return portRead(device, offset)[0]!;
}

/** Writes one byte register. */
export function outb(device: { write(offset: number, data: Uint8Array): void }, offset: number, value: number): void {
  device.write(offset, Uint8Array.of(value));
}
