/**
 * Kicking a thread out of a blocking syscall (KVM_RUN, epoll_wait): a real-time signal with a no-op handler installed
 * without SA_RESTART, so the syscall returns EINTR. Combined with the hypervisor's exit request (immediate_exit) it is
 * lossless: a kick that lands before KVM_RUN is entered makes KVM_RUN return at once.
 */
import { native } from './native.ts';

let installed = false;

/** Installs the process-wide handler (idempotent). */
export function installKickHandler(): void {
  if (installed) return;
  native().installKickHandler();
  installed = true;
}

/** The calling thread's identity, to hand to kickThread() from another thread. */
export function currentThread(): number {
  return native().threadSelf();
}

/** Returns false if the thread has already exited. */
export function kickThread(thread: number): boolean {
  return native().kick(thread);
}
