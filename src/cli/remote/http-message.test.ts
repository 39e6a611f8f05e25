/** Tests for the HTTP/1.1 request framing and the incremental answer reader of nimbus-remote. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeRequest, isSuccessStatus, MAX_RESPONSE_HEADER_BYTES, ResponseReader } from './http-message.ts';
import { RemoteError } from './remote-error.ts';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

function invalidResponse(message: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.code, 'INVALID_RESPONSE');
    assert.match(error.message, message);
    return true;
  };
}

describe('encodeRequest', () => {
  it('frames a request without a body as ch-remote does: no Content-Length', () => {
    assert.equal(
      text(encodeRequest({ method: 'GET', endpoint: 'vm.info' })),
      'GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n',
    );
  });

  it('sends Content-Length in bytes (not characters) and the body after the blank line', () => {
    const body = '{"id":"d\u00e9v"}';
    assert.equal(
      text(encodeRequest({ method: 'PUT', endpoint: 'vm.remove-device', body })),
      `PUT /api/v1/vm.remove-device HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nContent-Length: 13\r\n\r\n${body}`,
    );
  });

  it('sends Content-Length: 0 for an empty body', () => {
    assert.equal(
      text(encodeRequest({ method: 'PUT', endpoint: 'vm.create', body: '' })),
      'PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n',
    );
  });
});

describe('isSuccessStatus', () => {
  it('accepts 2xx only', () => {
    assert.deepEqual([100, 199, 200, 204, 299, 300, 404, 500].map(isSuccessStatus), [false, false, true, true, true, false, false, false]);
  });
});

describe('ResponseReader', () => {
  it('assembles an answer split anywhere, headers case-insensitively, body by Content-Length', () => {
    const answer = 'HTTP/1.1 200 OK\r\nServer: Cloud Hypervisor API\r\ncontent-LENGTH: 13\r\n\r\n{"state":"x"}';
    const reader = new ResponseReader();
    for (let index = 0; index < answer.length - 1; index++) {
      assert.equal(reader.push(bytes(answer[index] ?? '')), undefined, `incomplete after ${index + 1} bytes`);
    }
    const response = reader.push(bytes(answer.slice(-1)));
    assert.deepEqual(response, {
      status: 200,
      reason: 'OK',
      headers: new Map([['server', 'Cloud Hypervisor API'], ['content-length', '13']]),
      body: '{"state":"x"}',
    });
  });

  it('counts the body in bytes and decodes it as UTF-8, ignoring bytes past Content-Length', () => {
    const reader = new ResponseReader();
    const response = reader.push(bytes('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"\u00e9"trailing'));
    assert.equal(response?.body, '"\u00e9"');
  });

  it('is complete at the end of the header when there is no Content-Length', () => {
    const response = new ResponseReader().push(bytes('HTTP/1.1 204 No Content\r\nServer: Cloud Hypervisor API\r\n\r\n'));
    assert.equal(response?.status, 204);
    assert.equal(response?.body, '');
  });

  it('accepts a status line without a reason phrase', () => {
    const response = new ResponseReader().push(bytes('HTTP/1.1 204\r\n\r\n'));
    assert.deepEqual([response?.status, response?.reason], [204, '']);
  });

  it('finish() returns a complete answer and explains an incomplete one', () => {
    const complete = new ResponseReader();
    complete.push(bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]'));
    assert.equal(complete.finish().body, '[]');
    const headerOnly = new ResponseReader();
    headerOnly.push(bytes('HTTP/1.1 204 No Content\r\n'));
    assert.throws(() => headerOnly.finish(), invalidResponse(/closed the connection in the middle of the answer header/));
    assert.throws(() => new ResponseReader().finish(), invalidResponse(/^the VMM closed the connection without answering$/));
    const truncated = new ResponseReader();
    assert.equal(truncated.push(bytes('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n["a"')), undefined);
    assert.throws(() => truncated.finish(), invalidResponse(/^the answer body ended after 4 of its 10 bytes$/));
  });

  it('refuses malformed answers with INVALID_RESPONSE', () => {
    const push = (answer: string) => () => new ResponseReader().push(bytes(answer));
    assert.throws(push('SSH-2.0-OpenSSH\r\n\r\n'), invalidResponse(/does not start with an HTTP\/1\.1 status line \(got "SSH-2\.0-OpenSSH"\)/));
    assert.throws(push('HTTP/1.1 20 OK\r\n\r\n'), invalidResponse(/status line/));
    assert.throws(push('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'), invalidResponse(/invalid Content-Length "-1"/));
    assert.throws(push('HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n'), invalidResponse(/invalid Content-Length/));
    assert.throws(push('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'), invalidResponse(/conflicting "content-length" headers/));
    assert.throws(push('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'), invalidResponse(/malformed header line "no colon here"/));
    assert.throws(push('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), invalidResponse(/unsupported Transfer-Encoding "chunked"/));
  });

  it('refuses a header that never ends instead of buffering it without bound', () => {
    const reader = new ResponseReader();
    assert.equal(reader.push(bytes('HTTP/1.1 200 OK\r\n')), undefined);
    assert.throws(() => reader.push(new Uint8Array(MAX_RESPONSE_HEADER_BYTES).fill(0x41)), invalidResponse(/longer than 65536 bytes/));
  });
});
