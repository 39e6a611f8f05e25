/** One API connection over a fake socket: ordering, descriptors, partial writes, closing rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiConnection } from './api-connection.ts';
import type { HttpRequest } from './http-request-parser.ts';
import type { HttpResponse } from './http-response.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LIMITS = { maxHeaderBytes: 1024, maxBodyBytes: 64 };

/** A socket that takes at most `chunk` bytes per write while `open`, and records what it got. */
class FakeSocket {
  written = '';
  chunk = Infinity;
  full = false;
  broken = false;
  write(bytes: Uint8Array, offset: number): number {
    if (this.broken) throw new Error('EPIPE');
    if (this.full) return -1;
    const count = Math.min(this.chunk, bytes.length - offset);
    this.written += decoder.decode(bytes.subarray(offset, offset + count));
    return count;
  }
}

function setup(answer: (request: HttpRequest) => HttpResponse | 'forwarded' = () => 'forwarded') {
  const socket = new FakeSocket();
  const seen: { path: string; fds: number[] }[] = [];
  const connection = new ApiConnection(socket, LIMITS, (request, fds) => {
    seen.push({ path: request.path, fds });
    return answer(request);
  });
  const feed = (text: string, fds: number[] = []): void => connection.received(encoder.encode(text), fds);
  return { socket, seen, connection, feed };
}

/** The status lines written, without their CRLF. */
const statusLines = (text: string): string[] => [...text.matchAll(/HTTP\/1\.1 \d{3} \r\n/g)].map((match) => match[0].slice(0, -2));

test('pipelined requests are handed over one at a time, answered in order', () => {
  const { socket, seen, connection, feed } = setup();
  feed('GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n');
  assert.deepEqual(seen.map((s) => s.path), ['/a']);
  assert.equal(connection.wantsInput, false, 'no reading while a request is with the VMM');
  connection.respond({ status: 200, json: '1' });
  assert.deepEqual(seen.map((s) => s.path), ['/a', '/b']);
  connection.respond({ status: 204 });
  assert.deepEqual(statusLines(socket.written), ['HTTP/1.1 200 ', 'HTTP/1.1 204 ']);
  assert.equal(connection.wantsInput, true);
  assert.equal(connection.finished, false);
});

test('descriptors go with the request they arrived with; leftovers stay unclaimed', () => {
  const { seen, connection, feed } = setup(() => ({ status: 204 }));
  feed('PUT /a HTTP/1.1\r\n\r\n', [7, 8]);
  feed('PUT /b HTTP/1.1\r\n', [9]);
  assert.deepEqual(seen, [{ path: '/a', fds: [7, 8] }]);
  assert.deepEqual(connection.takeUnclaimedFds(), [9]);
});

test('descriptors beyond what one request may carry close the connection', () => {
  const { socket, seen, connection, feed } = setup();
  feed('PUT /a HTTP/1.1\r\n', new Array<number>(200).fill(3));
  feed('Content-Length: 0\r\n', new Array<number>(54).fill(4));
  assert.equal(seen.length, 0);
  assert.match(socket.written, /^HTTP\/1\.1 400 [\s\S]*\["too many file descriptors with one request \(at most 253\)"\]$/);
  assert.equal(connection.finished, true);
  assert.equal(connection.takeUnclaimedFds().length, 254, 'left for the owner to close');
});

test('a socket that takes a few bytes at a time, or none, gets the rest later', () => {
  const { socket, connection, feed } = setup(() => ({ status: 200, json: '"0123456789"' }));
  socket.chunk = 7;
  socket.full = true;
  feed('GET /a HTTP/1.1\r\n\r\n');
  assert.equal(socket.written, '');
  assert.equal(connection.wantsOutput, true);
  assert.equal(connection.finished, false);
  socket.full = false;
  connection.flush();
  assert.equal(connection.wantsOutput, false);
  assert.match(socket.written, /^HTTP\/1\.1 200 \r\n[\s\S]*\r\n\r\n"0123456789"$/);
});

test('a malformed request is answered 400 and the connection closes', () => {
  const { socket, seen, connection, feed } = setup();
  feed('NONSENSE\r\n\r\nGET /a HTTP/1.1\r\n\r\n');
  assert.equal(seen.length, 0);
  assert.match(socket.written, /^HTTP\/1\.1 400 \r\n[\s\S]*Connection: close[\s\S]*\["malformed HTTP request: invalid request line \\"NONSENSE\\""\]$/);
  assert.equal(connection.finished, true);
});

test('Connection: close and a half-closed client end the connection after the answer', () => {
  const closing = setup(() => ({ status: 204 }));
  closing.feed('GET /a HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.match(closing.socket.written, /Connection: close/);
  assert.equal(closing.connection.finished, true);

  const halfClosed = setup();
  halfClosed.feed('GET /a HTTP/1.1\r\n\r\n');
  halfClosed.connection.inputEnded();
  assert.equal(halfClosed.connection.finished, false, 'its answer is still owed');
  halfClosed.connection.respond({ status: 204 });
  assert.equal(statusLines(halfClosed.socket.written).length, 1);
  assert.equal(halfClosed.connection.finished, true);
});

test('Expect: 100-continue gets an interim 100 before the body is sent', () => {
  const { socket, seen, connection, feed } = setup(() => ({ status: 204 }));
  feed('PUT /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n');
  assert.equal(socket.written, 'HTTP/1.1 100 \r\n\r\n');
  feed('{}');
  assert.equal(seen.length, 1);
  assert.deepEqual(statusLines(socket.written), ['HTTP/1.1 100 ', 'HTTP/1.1 204 ']);
  assert.equal(connection.finished, false);
});

test('a client that went away finishes the connection', () => {
  const { socket, connection, feed } = setup(() => ({ status: 204 }));
  socket.broken = true;
  feed('GET /a HTTP/1.1\r\n\r\n');
  assert.equal(connection.finished, true);
  assert.throws(() => connection.respond({ status: 204 }), /without a forwarded request/);
});
