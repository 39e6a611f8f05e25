/** Unix sockets over the addon: 0600 listening sockets, adoption checks, SCM_RIGHTS both ways, bounds checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFd } from './eventfd.ts';
import { native } from './native.ts';
import {
  adoptListeningSocket,
  closeDescriptor,
  connectUnixSocket,
  listenUnixSocket,
  sendAll,
  SOCK_NONBLOCK,
  socketSyscalls,
  UnixSocketError,
} from './unix-socket.ts';

function withTempDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-socket-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Accepts one connection on a listening socket that has one pending. */
function acceptOne(listenFd: number): number {
  const fd = socketSyscalls().accept4(listenFd, 0);
  assert.ok(fd >= 0, 'a connection is pending');
  return fd;
}

test('a listening socket is created with mode 0600, leaving nothing else behind', () => {
  withTempDir((dir) => {
    const path = join(dir, 'api.sock');
    const fd = listenUnixSocket(path);
    try {
      const stat = statSync(path);
      assert.ok(stat.isSocket());
      assert.equal(stat.mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['api.sock']);
      assert.equal(socketSyscalls().accept4(fd, 0), -1, 'non-blocking: nothing pending');
      const client = connectUnixSocket(path);
      closeDescriptor(acceptOne(fd));
      closeDescriptor(client);
    } finally {
      closeDescriptor(fd);
    }
  });
});

test('a stale socket (nobody listening) is replaced; a live one is not', () => {
  withTempDir((dir) => {
    const path = join(dir, 'api.sock');
    const first = listenUnixSocket(path);
    assert.throws(() => listenUnixSocket(path), { code: 'PATH_EXISTS' }, 'a listening VMM keeps its socket');
    closeDescriptor(first); // the VMM died: its socket file stays behind
    const second = listenUnixSocket(path);
    try {
      const client = connectUnixSocket(path);
      closeDescriptor(client);
    } finally {
      closeDescriptor(second);
    }
  });
});

test('an existing path that is not a socket is never replaced', () => {
  withTempDir((dir) => {
    const path = join(dir, 'taken');
    writeFileSync(path, 'keep me');
    assert.throws(() => listenUnixSocket(path), (error: UnixSocketError) => error.code === 'PATH_EXISTS' && /already exists/.test(error.message));
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
    assert.deepEqual(readdirSync(dir), ['taken']);
  });
});

test('paths that do not fit a sockaddr_un are refused clearly', () => {
  assert.throws(() => listenUnixSocket(`/tmp/${'x'.repeat(120)}`), { code: 'PATH_TOO_LONG' });
  assert.throws(() => connectUnixSocket(`/tmp/${'x'.repeat(120)}`), { code: 'PATH_TOO_LONG' });
  const fd = socketSyscalls().socketUnix(0);
  try {
    assert.throws(() => socketSyscalls().bind(fd, '/tmp/a\0b'), /contains a NUL byte/);
    assert.throws(() => socketSyscalls().bind(fd, ''), /empty/);
  } finally {
    closeDescriptor(fd);
  }
});

test('only a listening Unix stream socket is adopted', () => {
  withTempDir((dir) => {
    const listener = listenUnixSocket(join(dir, 's'));
    const unbound = socketSyscalls().socketUnix(0);
    writeFileSync(join(dir, 'file'), '');
    const file = native().open(join(dir, 'file'), 0 /* O_RDONLY */);
    try {
      assert.equal(adoptListeningSocket(listener), listener);
      for (const fd of [unbound, file]) {
        assert.throws(() => adoptListeningSocket(fd), (error: UnixSocketError) => error.code === 'NOT_A_LISTENING_SOCKET' && /not a listening Unix stream socket/.test(error.message));
      }
      assert.throws(() => adoptListeningSocket(999_999), /file descriptor 999999 is not open/);
    } finally {
      [listener, unbound, file].forEach(closeDescriptor);
    }
  });
});

test('descriptors passed with data arrive as new, open descriptors of the same object', () => {
  withTempDir((dir) => {
    const path = join(dir, 's');
    const listener = listenUnixSocket(path);
    const client = connectUnixSocket(path);
    const server = acceptOne(listener);
    const event = new EventFd({ nonBlocking: true });
    try {
      sendAll(client, new TextEncoder().encode('hello'), [event.fd, event.fd]);
      const buffer = new Uint8Array(16);
      const received = socketSyscalls().recvmsg(server, buffer, 2, 14);
      assert.equal(received.bytes, 5);
      assert.equal(new TextDecoder().decode(buffer.subarray(2, 7)), 'hello');
      assert.equal(received.truncated, false);
      assert.equal(received.fds.length, 2);
      for (const fd of received.fds) {
        assert.notEqual(fd, event.fd);
        native().eventfdWrite(fd, 2);
      }
      assert.equal(event.read(), 4, 'writes through the received descriptors reach the eventfd');
      received.fds.forEach(closeDescriptor);

      const nonBlocking = socketSyscalls().accept4(listener, SOCK_NONBLOCK);
      assert.equal(nonBlocking, -1);
      closeDescriptor(client);
      assert.equal(socketSyscalls().recvmsg(server, buffer, 0, 16).bytes, 0, 'end of stream');
    } finally {
      [listener, server].forEach(closeDescriptor);
      event.close();
    }
  });
});

test('socket syscalls check their buffer ranges and descriptor counts', () => {
  withTempDir((dir) => {
    const path = join(dir, 's');
    const listener = listenUnixSocket(path);
    const client = connectUnixSocket(path);
    const server = acceptOne(listener);
    try {
      const sockets = socketSyscalls();
      const buffer = new Uint8Array(8);
      assert.throws(() => sockets.recvmsg(server, buffer, 4, 5), /outside the buffer/);
      assert.throws(() => sockets.recvmsg(server, buffer, -1, 1), /outside the buffer/);
      assert.throws(() => sockets.sendmsg(client, buffer, 9, 0), /outside the buffer/);
      assert.throws(() => sockets.sendmsg(client, buffer, 0, 1, new Array<number>(254).fill(client)), /at most 253/);
      assert.throws(() => sendAll(client, new Uint8Array(0), [client]), /at least one byte/);
      assert.throws(() => sockets.sendmsg(client, buffer, 0, 1, [-1]), { code: 'EBADF' });
    } finally {
      [listener, client, server].forEach(closeDescriptor);
    }
  });
});
