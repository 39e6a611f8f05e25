/**
 * A mutex in shared memory that serialises accesses to one device from several threads (the vCPU workers, which
 * handle port-I/O exits themselves, and the main thread, which feeds serial input and takes snapshots), and
 * LockedDevice, which wraps a device with it.
 *
 * The lock word is an Int32 in a SharedArrayBuffer: 0 free, 1 held, 2 held with sleepers (Drepper's futex mutex).
 * Workers ("wait" mode) spin briefly, then sleep in Atomics.wait and are woken by the releasing thread. The main
 * thread ("spin" mode) must never sleep, so it only spins with Atomics.compareExchange; critical sections are a
 * few register updates, so a spinning main thread waits microseconds. A lock held past the timeout (a thread that
 * died inside a critical section, or a byte sink that blocks) is reported as LOCK_TIMEOUT instead of hanging, and a
 * thread that re-enters a lock it holds gets LOCK_REENTERED. Pure: no node:* imports.
 */
import type { BusDevice } from '../bus/bus.ts';
import { DeviceError } from './device-error.ts';

/** "wait": may sleep in Atomics.wait (Worker threads). "spin": busy-waits only (the main thread). */
export type LockMode = 'wait' | 'spin';

const FREE = 0;
const HELD = 1;
const HELD_WITH_SLEEPERS = 2;
/** Compare-and-swap attempts before a waiting thread goes to sleep. */
const SPIN_ATTEMPTS = 200;
/** Spin iterations between two clock checks while spinning for the timeout. */
const SPINS_PER_CLOCK_CHECK = 4096;
/** Longest single Atomics.wait; the timeout is checked after each. */
const SLEEP_SLICE_MS = 50;
const DEFAULT_TIMEOUT_MS = 5000;

export class SharedLock {
  /** Bytes of shared memory one lock needs. */
  static readonly BYTES = 4;

  private readonly word: Int32Array;
  private readonly mode: LockMode;
  private readonly timeoutMs: number;
  /** Whether this instance (hence this thread: instances are per thread) holds the lock. */
  private held = false;

  constructor(buffer: SharedArrayBuffer, mode: LockMode, options: { timeoutMs?: number } = {}) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < SharedLock.BYTES) {
      throw new DeviceError(
        'BAD_STATE_BUFFER',
        `a device lock needs a SharedArrayBuffer of at least ${SharedLock.BYTES} bytes; allocate it with SharedLock.BYTES`,
      );
    }
    this.word = new Int32Array(buffer, 0, 1);
    this.mode = mode;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  acquire(): void {
    if (this.held) {
      throw new DeviceError(
        'LOCK_REENTERED',
        'a device callback (byte sink, interrupt line or platform control) re-entered the device that called it; ' +
          'such callbacks must not access the device synchronously',
      );
    }
    if (Atomics.compareExchange(this.word, 0, FREE, HELD) !== FREE) this.acquireContended();
    this.held = true;
  }

  release(): void {
    this.held = false;
    if (Atomics.exchange(this.word, 0, FREE) === HELD_WITH_SLEEPERS) Atomics.notify(this.word, 0, 1);
  }

  private acquireContended(): void {
    for (let attempt = 0; attempt < SPIN_ATTEMPTS; attempt++) {
      if (this.tryTake()) return;
    }
    const deadline = Date.now() + this.timeoutMs;
    if (this.mode === 'spin') {
      for (let spin = 1; !this.tryTake(); spin++) {
        if (spin % SPINS_PER_CLOCK_CHECK === 0 && Date.now() > deadline) throw this.timeout();
      }
      return;
    }
    // Announce a sleeper so the holder's release() wakes us; whoever finds the word free owns the lock.
    while (Atomics.exchange(this.word, 0, HELD_WITH_SLEEPERS) !== FREE) {
      Atomics.wait(this.word, 0, HELD_WITH_SLEEPERS, SLEEP_SLICE_MS);
      if (Date.now() > deadline) throw this.timeout();
    }
  }

  private tryTake(): boolean {
    return Atomics.load(this.word, 0) === FREE && Atomics.compareExchange(this.word, 0, FREE, HELD) === FREE;
  }

  private timeout(): DeviceError {
    return new DeviceError(
      'LOCK_TIMEOUT',
      `a device lock stayed held by another thread for over ${this.timeoutMs} ms; ` +
        'a thread died inside the device or a byte sink blocked (sinks must not block)',
    );
  }
}

/** A device whose every access (guest port I/O, host input, snapshots) runs under its shared lock. */
export class LockedDevice<D extends BusDevice> implements BusDevice {
  private readonly lock: SharedLock;
  private readonly device: D;

  constructor(lock: SharedLock, device: D) {
    this.lock = lock;
    this.device = device;
  }

  read(offset: number, data: Uint8Array): void {
    this.lock.acquire();
    try {
      this.device.read(offset, data);
    } finally {
      this.lock.release();
    }
  }

  write(offset: number, data: Uint8Array): void {
    this.lock.acquire();
    try {
      this.device.write(offset, data);
    } finally {
      this.lock.release();
    }
  }

  /** Runs `action` on the device with the lock held (for host-side operations: input, save, restore). */
  locked<R>(action: (device: D) => R): R {
    this.lock.acquire();
    try {
      return action(this.device);
    } finally {
      this.lock.release();
    }
  }
}
