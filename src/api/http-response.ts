/**
 * HTTP responses of the API socket, framed as Cloud Hypervisor's server (firecracker's micro_http) frames them,
 * because its clients depend on that framing: ch-remote reads the status as the text between `HTTP/1.1 ` and the
 * first CR and parses it as an integer, so the status line carries no reason phrase (`HTTP/1.1 204 \r\n`); it finds
 * the body by a `Content-Length: ` header spelled exactly so; 204 and 1xx responses carry no Content-Length.
 *
 * The `Server` header is `Nimbus API` rather than upstream's `Cloud Hypervisor API`: no client reads it (ch-remote
 * and libvirt look only at the status and Content-Length, Kata uses Go's net/http), and it tells an operator which
 * VMM answered. Error bodies are a JSON array of strings, the error chain, as upstream. Pure: no node:* imports.
 */

export const SERVER_NAME = 'Nimbus API';

export interface HttpResponse {
  status: number;
  /** The JSON text of the body; absent for 204 (and 1xx). */
  json?: string;
  /** Close the connection after this response. */
  close?: boolean;
  /** Methods the path allows (sent with 405). */
  allow?: readonly string[];
}

const encoder = new TextEncoder();

/** The bytes of a response. */
export function encodeResponse(response: HttpResponse): Uint8Array {
  const lines = [
    `HTTP/1.1 ${response.status} `,
    `Server: ${SERVER_NAME}`,
    `Connection: ${response.close === true ? 'close' : 'keep-alive'}`,
  ];
  if (response.allow !== undefined) lines.push(`Allow: ${response.allow.join(', ')}`);
  const body = encoder.encode(response.json ?? '');
  if (response.status !== 204 && response.status >= 200) {
    lines.push('Content-Type: application/json', `Content-Length: ${body.length}`);
  }
  const head = encoder.encode(`${lines.join('\r\n')}\r\n\r\n`);
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

/** The interim response to `Expect: 100-continue`. */
export const CONTINUE_RESPONSE = encoder.encode('HTTP/1.1 100 \r\n\r\n');

/** An error response: the messages as a JSON array of strings. */
export function errorResponse(status: number, messages: readonly string[], close = false): HttpResponse {
  return { status, json: JSON.stringify(messages), close };
}
