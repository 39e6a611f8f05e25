/**
 * Typed binding of the native addon (native/src/addon.c): a thin syscall layer. Only src/host/ and
 * src/hypervisor/kvm/ import this module. Failed syscalls throw NativeError ({errno, code, syscall}).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './package-root.ts';

/** An Error thrown by the addon for a failed syscall. */
export interface NativeError extends Error {
  errno: number;
  code: string;
  syscall: string;
}

export interface NativeAddon {
  open(path: string, flags: number): number;
  close(fd: number): void;
  /** ioctl with an integer argument or a pointer to a typed array's bytes; returns the non-negative result. */
  ioctl(fd: number, request: number, arg?: number | bigint | ArrayBufferView): number;
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): bigint;
  munmap(address: bigint, length: number): void;
  madvise(address: bigint, length: number, advice: number): void;
  /** External ArrayBuffer over [address, address+length) inside a mapping made by mmap(); at most 4 GiB. */
  view(address: bigint, length: number): ArrayBuffer;
  memfdCreate(name: string, flags: number): number;
  eventfd(initval: number, flags: number): number;
  eventfdWrite(fd: number, value: number | bigint): void;
  /** The counter value (reset to 0), or -1 if a non-blocking eventfd is not readable. */
  eventfdRead(fd: number): number;
  epollCreate(): number;
  epollCtl(epfd: number, op: number, fd: number, events: number, data: number): void;
  /** Fills `out` with (events, data) pairs; returns how many are ready (0 on timeout or EINTR). */
  epollWait(epfd: number, out: Uint32Array, timeoutMs: number): number;
  /** Installs a no-op handler for the kick signal (no SA_RESTART); returns the signal number. */
  installKickHandler(): number;
  /** The calling thread's kernel thread id. */
  threadSelf(): number;
  /** Signals a thread of this process; false if it no longer exists. */
  kick(tid: number): boolean;
  layout(): Record<string, number>;
}

export const O_RDWR = 2;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MADV_DONTDUMP = 16;
export const MADV_HUGEPAGE = 14;
export const EFD_NONBLOCK = 0o4000;
export const EPOLLIN = 1;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;

/** True if `error` is a NativeError with the given code (e.g. 'EINTR'). */
export function isNativeError(error: unknown, code?: string): error is NativeError {
  return error instanceof Error && typeof (error as Partial<NativeError>).errno === 'number' && (code === undefined || (error as NativeError).code === code);
}

let loaded: NativeAddon | undefined;

/** Loads the addon built by `npm run build` (native/build/Release/nimbus_native.node). */
export function native(): NativeAddon {
  if (loaded) return loaded;
  const path = join(packageRoot(), 'native', 'build', 'Release', 'nimbus_native.node');
  if (!existsSync(path)) throw new Error('the native addon is not built: run `npm run build` (needs gcc, make and python3)');
  loaded = createRequire(import.meta.url)(path) as NativeAddon;
  return loaded;
}
