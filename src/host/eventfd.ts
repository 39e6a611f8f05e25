/**
 * eventfd wrapper. With KVM's irqfd, writing 1 to an eventfd injects an edge on a GSI from any thread without a
 * hypervisor call, which is how legacy device interrupts leave the vCPU workers and the main thread.
 */
import type { InterruptLine } from '../interrupt/interrupt-line.ts';
import { EFD_NONBLOCK, native } from './native.ts';

export class EventFd {
  readonly fd: number;
  private closed = false;

  constructor(options: { nonBlocking?: boolean } = {}) {
    this.fd = native().eventfd(0, options.nonBlocking ? EFD_NONBLOCK : 0);
  }

  write(value = 1): void {
    native().eventfdWrite(this.fd, value);
  }

  /** The counter (reset to 0); -1 if non-blocking and nothing was written. */
  read(): number {
    return native().eventfdRead(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().close(this.fd);
  }
}

/** An InterruptLine over an eventfd number (usable in any thread of the process, e.g. a vCPU worker). */
export function eventFdInterruptLine(fd: number): InterruptLine {
  const addon = native();
  return { trigger: () => addon.eventfdWrite(fd, 1) };
}
