/**
 * Unix stream sockets over the addon's socket syscalls (native/src/socket.c), for the REST API server and its clients
 * (tests, `nimbus-remote`). Node's `net` cannot pass file descriptors (SCM_RIGHTS), so these own the descriptors.
 * A listening socket is created with mode 0600 and never exists at its final path with any other mode: it is bound
 * inside a fresh private (0700) directory, restricted, and then hard-linked into place, which also refuses to replace
 * an existing file.
 */
import { chmodSync, linkSync, lstatSync, mkdtempSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NimbusError } from '../errors/nimbus-error.ts';
import { isNativeError, native, type NativeAddon } from './native.ts';

/** What recvmsg() returns: bytes read (-1: would block, 0: end of stream), descriptors received, ancillary loss. */
export interface ReceivedMessage {
  bytes: number;
  fds: number[];
  truncated: boolean;
}

/** The addon's socket syscalls. Would-block results are -1; other failures throw NativeError. */
export interface SocketSyscalls {
  /** A close-on-exec AF_UNIX stream socket; `flags` may add SOCK_NONBLOCK. */
  socketUnix(flags: number): number;
  bind(fd: number, path: string): void;
  listen(fd: number, backlog: number): void;
  /** The accepted socket (close-on-exec), or -1 when no connection is pending. */
  accept4(fd: number, flags: number): number;
  connect(fd: number, path: string): void;
  /** Reads at most `length` bytes into `buffer[offset..]`, with any descriptors passed alongside. */
  recvmsg(fd: number, buffer: Uint8Array, offset: number, length: number): ReceivedMessage;
  /** Sends `buffer[offset..offset+length]`, `fds` with the first byte; returns bytes sent or -1 (socket full). */
  sendmsg(fd: number, buffer: Uint8Array, offset: number, length: number, fds?: readonly number[]): number;
  shutdown(fd: number, how: number): void;
  /** An integer socket option. */
  getsockopt(fd: number, level: number, name: number): number;
}

export const SOCK_NONBLOCK = 0o4000;
export const SHUT_WR = 1;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_ACCEPTCONN = 30;
const SO_DOMAIN = 39;
/** Longest path a sockaddr_un holds (108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107;
const DEFAULT_BACKLOG = 128;

export type UnixSocketErrorCode = 'PATH_EXISTS' | 'PATH_TOO_LONG' | 'NOT_A_LISTENING_SOCKET' | 'LISTEN_FAILED' | 'CONNECT_FAILED';

export class UnixSocketError extends NimbusError<UnixSocketErrorCode> {}

/** The socket syscalls of the (already loaded) addon. */
export function socketSyscalls(): SocketSyscalls {
  return native() as NativeAddon & SocketSyscalls;
}

/** Closes a descriptor, ignoring one that is already closed. */
export function closeDescriptor(fd: number): void {
  try {
    native().close(fd);
  } catch (error) {
    if (!isNativeError(error, 'EBADF')) throw error;
  }
}

/**
 * Creates a listening socket at `path`, mode 0600, and returns its descriptor (non-blocking, close-on-exec).
 * Refuses to replace anything already at `path`.
 */
export function listenUnixSocket(path: string, backlog = DEFAULT_BACKLOG): number {
  const target = resolve(path);
  checkPathLength(target);
  const sockets = socketSyscalls();
  const privateDir = mkdtempSync(join(dirname(target), '.n'));
  const staging = join(privateDir, 's');
  let fd: number | undefined;
  try {
    checkPathLength(staging, ` (the temporary path ${staging} next to it is too; choose a shorter path)`);
    fd = sockets.socketUnix(SOCK_NONBLOCK);
    sockets.bind(fd, staging);
    chmodSync(staging, 0o600);
    sockets.listen(fd, backlog);
    removeStaleSocket(target);
    linkSync(staging, target);
    return fd;
  } catch (error) {
    if (fd !== undefined) closeDescriptor(fd);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UnixSocketError('PATH_EXISTS', `cannot create the API socket: ${target} already exists; remove it or choose another path`);
    }
    if (error instanceof UnixSocketError) throw error;
    throw new UnixSocketError('LISTEN_FAILED', `cannot create the API socket ${target}: ${(error as Error).message}`, { cause: error });
  } finally {
    removeIfPresent(staging);
    rmdirSync(privateDir);
  }
}

/**
 * Removes `path` if it is a socket nobody listens on (left by a VMM that died), as Cloud Hypervisor does; a live
 * socket or any other kind of file is left alone (the link that follows then fails with EEXIST).
 */
function removeStaleSocket(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) return;
  let fd: number;
  try {
    fd = connectUnixSocket(path);
  } catch (error) {
    if (isNativeError((error as Error).cause, 'ECONNREFUSED')) unlinkSync(path);
    return;
  }
  closeDescriptor(fd);
}

/** Checks that an inherited descriptor is a listening AF_UNIX stream socket, and returns it. */
export function adoptListeningSocket(fd: number): number {
  const sockets = socketSyscalls();
  const describe = `file descriptor ${fd}`;
  try {
    const domain = sockets.getsockopt(fd, SOL_SOCKET, SO_DOMAIN);
    const type = sockets.getsockopt(fd, SOL_SOCKET, SO_TYPE);
    const listening = sockets.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN);
    if (domain === AF_UNIX && type === SOCK_STREAM && listening === 1) return fd;
  } catch (error) {
    if (isNativeError(error, 'EBADF')) throw new UnixSocketError('NOT_A_LISTENING_SOCKET', `${describe} is not open`);
    if (!isNativeError(error, 'ENOTSOCK')) throw error;
  }
  throw new UnixSocketError(
    'NOT_A_LISTENING_SOCKET',
    `${describe} is not a listening Unix stream socket; pass one created with socket(AF_UNIX, SOCK_STREAM), bind and listen`,
  );
}

/** Connects a new blocking socket to `path`; returns its descriptor. */
export function connectUnixSocket(path: string): number {
  checkPathLength(path);
  const sockets = socketSyscalls();
  const fd = sockets.socketUnix(0);
  try {
    sockets.connect(fd, path);
    return fd;
  } catch (error) {
    closeDescriptor(fd);
    throw new UnixSocketError('CONNECT_FAILED', `cannot connect to ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Writes all of `bytes` to a blocking socket; `fds` travel with the first byte (so `bytes` must not be empty). */
export function sendAll(fd: number, bytes: Uint8Array, fds: readonly number[] = []): void {
  if (fds.length > 0 && bytes.length === 0) throw new RangeError('descriptors travel with data: send at least one byte');
  const sockets = socketSyscalls();
  let sent = 0;
  let pendingFds = fds;
  while (sent < bytes.length) {
    const count = sockets.sendmsg(fd, bytes, sent, bytes.length - sent, pendingFds);
    if (count < 0) throw new Error(`socket ${fd} is non-blocking and full; sendAll needs a blocking socket`);
    sent += count;
    pendingFds = [];
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function checkPathLength(path: string, hint = ''): void {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new UnixSocketError('PATH_TOO_LONG', `the socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes${hint}`);
  }
}
