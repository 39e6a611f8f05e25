/**
 * An epoll set for a thread that blocks on file descriptors (a device's I/O worker: its doorbell, the ioeventfds of
 * its queues, later backend fds). Each fd is registered with a token, a small integer the caller chooses; `wait`
 * returns how many are ready and `token(i)` which. A thread kick (see thread-kick.ts) makes `wait` return 0.
 */
import { EPOLL_CTL_ADD, EPOLLIN, native } from './native.ts';

/** Most events one wait reports (the addon's limit). */
const MAX_EVENTS = 256;
/** Uint32 words per reported event: the event bits and the token. */
const EVENT_WORDS = 2;

export class Epoll {
  readonly fd: number;
  private readonly events = new Uint32Array(MAX_EVENTS * EVENT_WORDS);
  private closed = false;

  constructor() {
    this.fd = native().epollCreate();
  }

  /** Watches `fd` for readability, reporting it as `token` (an integer 0 to 2^31 - 1). */
  add(fd: number, token: number): void {
    native().epollCtl(this.fd, EPOLL_CTL_ADD, fd, EPOLLIN, token);
  }

  /** Blocks until watched fds are readable and returns how many are; 0 after a kick. */
  wait(): number {
    return native().epollWait(this.fd, this.events, -1);
  }

  /** The token of the `index`-th ready fd of the last wait. */
  token(index: number): number {
    return this.events[index * EVENT_WORDS + 1]!;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().close(this.fd);
  }
}

/** Reads (and so resets) the counter of an eventfd that epoll reported readable; 0 if another reader got it first. */
export function drainEventFd(fd: number): number {
  return Math.max(native().eventfdRead(fd), 0);
}
