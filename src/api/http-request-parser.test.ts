/** The strict HTTP/1.1 request parser and the response framing ch-remote depends on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError, type HttpLimits, type HttpRequest, HttpRequestParser } from './http-request-parser.ts';
import { CONTINUE_RESPONSE, encodeResponse, errorResponse } from './http-response.ts';

const LIMITS: HttpLimits = { maxHeaderBytes: 1024, maxBodyBytes: 64 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseAll(text: string, limits = LIMITS): HttpRequest[] {
  const parser = new HttpRequestParser(limits);
  parser.push(encoder.encode(text));
  const requests: HttpRequest[] = [];
  for (let request = parser.next(); request !== undefined; request = parser.next()) requests.push(request);
  return requests;
}

function parseError(text: string, limits = LIMITS): HttpError {
  try {
    parseAll(text, limits);
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${String(error)}`);
    return error;
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

test('parses the request ch-remote sends, with its body', () => {
  const body = '{"desired_vcpus":2}';
  const [request] = parseAll(
    `PUT /api/v1/vm.resize HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  assert.ok(request);
  assert.equal(request.method, 'PUT');
  assert.equal(request.path, '/api/v1/vm.resize');
  assert.equal(request.headers.get('host'), 'localhost');
  assert.equal(decoder.decode(request.body), body);
  assert.equal(request.keepAlive, true);
});

test('a request split into single bytes parses the same', () => {
  const text = 'GET /api/v1/vm.info?x=1 HTTP/1.1\r\nHost: a\r\n\r\nPUT /api/v1/vm.boot HTTP/1.1\r\nContent-Length: 0\r\n\r\n';
  const parser = new HttpRequestParser(LIMITS);
  const paths: string[] = [];
  for (const byte of encoder.encode(text)) {
    parser.push(Uint8Array.of(byte));
    const request = parser.next();
    if (request) paths.push(`${request.method} ${request.path}`);
  }
  assert.deepEqual(paths, ['GET /api/v1/vm.info', 'PUT /api/v1/vm.boot']);
  assert.equal(parser.buffered, 0);
});

test('pipelined requests come out in order; leading blank lines are skipped', () => {
  const requests = parseAll('\r\nGET /a HTTP/1.1\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\n\n');
  assert.deepEqual(requests.map((r) => [r.path, decoder.decode(r.body)]), [['/a', ''], ['/b', 'hi'], ['/c', '']]);
});

test('absolute-form targets are reduced to their path', () => {
  const [request] = parseAll('GET http://localhost/api/v1/vmm.ping HTTP/1.1\r\n\r\n');
  assert.equal(request?.path, '/api/v1/vmm.ping');
  assert.equal(request?.target, 'http://localhost/api/v1/vmm.ping');
});

test('keep-alive follows the version and the Connection header', () => {
  assert.equal(parseAll('GET / HTTP/1.1\r\nConnection: close\r\n\r\n')[0]?.keepAlive, false);
  assert.equal(parseAll('GET / HTTP/1.0\r\n\r\n')[0]?.keepAlive, false);
  assert.equal(parseAll('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')[0]?.keepAlive, true);
});

test('chunked bodies are decoded, with extensions and trailers', () => {
  const [request] = parseAll('PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n');
  assert.equal(decoder.decode(request?.body), 'abc0123456789');
});

test('Expect: 100-continue asks for a 100 once the headers are in and the body is not', () => {
  const parser = new HttpRequestParser(LIMITS);
  parser.push(encoder.encode('PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n'));
  assert.equal(parser.next(), undefined);
  assert.equal(parser.takeContinue(), true);
  assert.equal(parser.takeContinue(), false);
  parser.push(encoder.encode('ok'));
  assert.equal(decoder.decode(parser.next()?.body), 'ok');
});

test('malformed requests are refused with the right status', () => {
  const cases: [string, number, RegExp][] = [
    ['GARBAGE\r\n\r\n', 400, /invalid request line/],
    ['GET /a HTTP/2.0\r\n\r\n', 505, /HTTP\/2.0 is not supported/],
    ['G(T /a HTTP/1.1\r\n\r\n', 400, /invalid method/],
    ['GET /a HTTP/1.1\r\nHost : x\r\n\r\n', 400, /invalid header field/],
    ['GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 400, /folded header lines/],
    ['GET /a HTTP/1.1\r\nX: a\x01b\r\n\r\n', 400, /control characters/],
    ['PUT /a HTTP/1.1\r\nContent-Length: 1x\r\n\r\n', 400, /invalid Content-Length/],
    ['PUT /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400, /invalid Content-Length/],
    ['PUT /a HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 400, /both Transfer-Encoding and Content-Length/],
    ['PUT /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 501, /only chunked/],
    ['PUT /a HTTP/1.1\r\nExpect: 103-checkpoint\r\n\r\n', 417, /unsupported Expect/],
    ['PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, /invalid chunk size/],
    ['PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY', 400, /not followed by CRLF/],
  ];
  for (const [text, status, message] of cases) {
    const error = parseError(text);
    assert.equal(error.status, status, text);
    assert.match(error.message, message, text);
  }
});

test('sizes are bounded before anything is buffered beyond the limit', () => {
  assert.equal(parseError(`PUT /a HTTP/1.1\r\nContent-Length: 65\r\n\r\n`).status, 413);
  assert.equal(parseError('PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n').status, 413);
  assert.equal(parseError(`GET /a HTTP/1.1\r\nX: ${'a'.repeat(1100)}`).status, 431);
  assert.equal(parseError(`GET /a HTTP/1.1\r\nX: ${'a'.repeat(1100)}\r\n\r\n`).status, 431);
});

test('a parser that failed refuses to continue', () => {
  const parser = new HttpRequestParser(LIMITS);
  parser.push(encoder.encode('BAD\r\n\r\n'));
  assert.throws(() => parser.next(), HttpError);
  assert.throws(() => parser.next(), /failed earlier/);
});

test('responses are framed exactly as micro_http frames them', () => {
  assert.equal(decoder.decode(encodeResponse({ status: 204 })), 'HTTP/1.1 204 \r\nServer: Nimbus API\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(
    decoder.decode(encodeResponse({ status: 200, json: '{"a":"é"}' })),
    'HTTP/1.1 200 \r\nServer: Nimbus API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"a":"é"}',
  );
  assert.equal(
    decoder.decode(encodeResponse({ ...errorResponse(405, ['no']), allow: ['GET'], close: true })),
    'HTTP/1.1 405 \r\nServer: Nimbus API\r\nConnection: close\r\nAllow: GET\r\nContent-Type: application/json\r\nContent-Length: 6\r\n\r\n["no"]',
  );
  assert.equal(decoder.decode(CONTINUE_RESPONSE), 'HTTP/1.1 100 \r\n\r\n');
});
