/**
 * Small contracts shared by the legacy platform devices: what they are handed (byte sinks, clocks, platform
 * control), what a device with snapshot-able state offers, and the access rules for byte-wide port registers.
 *
 * Width rule for byte registers (every legacy device here has only byte registers, except the 32-bit PM timer):
 * a wider guest access (2, 4 or 8 bytes) addresses the register at its first port; a write uses only its low byte
 * and a read returns the register in its low byte with the extra bytes reading 0. Pure: no node:* imports.
 */
import type { BusDevice } from '../bus/bus.ts';
import { DeviceError } from './device-error.ts';

/**
 * Receives bytes a device emits (serial output, firmware debug output). Called synchronously, possibly on a
 * vCPU thread while the device lock is held: it must not block for long, and must copy the bytes if it keeps
 * them (devices reuse the buffer).
 */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

/** Lets a device power off or reset the VM. Implementations only record the request; the VMM acts on it. */
export interface PlatformControl {
  requestShutdown(): void;
  requestReset(): void;
}

/**
 * Monotonic time in nanoseconds since the VMM started, as an integer number, on a time base shared by every
 * thread (e.g. `process.hrtime.bigint()` minus the start value, which workers receive from the main thread;
 * not `performance.now()`, whose origin differs per Worker).
 */
export type MonotonicClock = () => number;

/** Wall-clock time in milliseconds since the Unix epoch (`Date.now` semantics). */
export type WallClock = () => number;

/** Plain, JSON-able, versioned device state as produced by `save()`. */
export interface DeviceSnapshot {
  readonly version: number;
}

/** A port device whose mutable state lives in shared memory and can be saved and restored. */
export interface StatefulDevice extends BusDevice {
  save(): DeviceSnapshot;
  /** Validates `data` (a DEVICE_SNAPSHOT from `save()`), then writes it into the shared state. */
  restore(data: unknown): void;
}

/** The value a guest wrote to a byte register: the low byte of the access. */
export function writtenByte(data: Uint8Array): number {
  return data[0] ?? 0;
}

/** Answers a guest read of a byte register: `value` in the low byte, zeros above. */
export function answerByte(data: Uint8Array, value: number): void {
  data.fill(0);
  if (data.length > 0) data[0] = value;
}

/** Checks that `state` is shared memory large enough for `device`; returns it for chaining. */
export function checkStateBuffer(state: SharedArrayBuffer, bytes: number, device: string): SharedArrayBuffer {
  if (!(state instanceof SharedArrayBuffer) || state.byteLength < bytes) {
    const got = state instanceof SharedArrayBuffer ? `${state.byteLength} bytes` : 'not a SharedArrayBuffer';
    throw new DeviceError(
      'BAD_STATE_BUFFER',
      `${device} needs a SharedArrayBuffer of at least ${bytes} bytes for its state (got ${got}); ` +
        "allocate it with the device's STATE_BYTES",
    );
  }
  return state;
}
