/**
 * Per-vCPU counts of exits to user space by kind, in a SharedArrayBuffer the vCPU worker increments and any thread
 * reads (the main thread, for logs and counters). The data path of a virtio device should add nothing here: its
 * queue notifications end in ioeventfds inside KVM, so a growing MMIO count during I/O means a notify write exited.
 */
import { Bus } from '../bus/bus.ts';

export const EXIT_COUNTER = {
  /** Port-I/O exits (each element of a rep ins/outs counts). */
  PIO: 0,
  /** MMIO exits. */
  MMIO: 1,
  /** Accesses forwarded to a PCI device's I/O worker (configuration space through CF8/CFC or ECAM, BAR0). */
  PCI_FORWARDED: 2,
} as const;
export type ExitCounter = (typeof EXIT_COUNTER)[keyof typeof EXIT_COUNTER];

export interface VcpuExitCounts {
  pio: number;
  mmio: number;
  pciForwarded: number;
}

const COUNTERS = 3;

export class VcpuExitCounters {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Uint32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(COUNTERS * 4)) {
    this.buffer = buffer;
    this.words = new Uint32Array(buffer, 0, COUNTERS);
  }

  add(counter: ExitCounter): void {
    Atomics.add(this.words, counter, 1);
  }

  read(): VcpuExitCounts {
    return {
      pio: Atomics.load(this.words, EXIT_COUNTER.PIO),
      mmio: Atomics.load(this.words, EXIT_COUNTER.MMIO),
      pciForwarded: Atomics.load(this.words, EXIT_COUNTER.PCI_FORWARDED),
    };
  }
}

/** A bus that counts every access it dispatches (one per exit, or per element of a rep instruction). */
export class CountingBus extends Bus {
  private readonly counters: VcpuExitCounters;
  private readonly counter: ExitCounter;

  constructor(kind: 'pio' | 'mmio', counters: VcpuExitCounters) {
    super(kind);
    this.counters = counters;
    this.counter = kind === 'pio' ? EXIT_COUNTER.PIO : EXIT_COUNTER.MMIO;
  }

  override read(addr: number, data: Uint8Array): boolean {
    this.counters.add(this.counter);
    return super.read(addr, data);
  }

  override write(addr: number, data: Uint8Array): boolean {
    this.counters.add(this.counter);
    return super.write(addr, data);
  }
}
