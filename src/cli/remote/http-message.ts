/**
 * The HTTP/1.1 messages nimbus-remote exchanges with the VMM's API socket, framed exactly as Cloud Hypervisor's
 * api_client writes them: `PUT /api/v1/vm.pause HTTP/1.1`, `Host: localhost`, `Accept` of any type, and
 * `Content-Length` plus the body only when there is a body. Answers are read incrementally: the status line, the headers, then
 * `Content-Length` bytes of body (none without that header). Pure: bytes in, bytes out.
 */
import { RemoteError } from './remote-error.ts';

export const API_ROOT = '/api/v1';

export type HttpMethod = 'GET' | 'PUT';

export interface ApiRequest {
  method: HttpMethod;
  /** The endpoint below the API root, e.g. `vm.info` or `vmm.ping`. */
  endpoint: string;
  /** The request body (JSON), sent with its Content-Length; absent for endpoints that take none. */
  body?: string;
  /**
   * Descriptors of this process passed to the VMM with the request (SCM_RIGHTS on its first bytes, in this order);
   * they are not part of the HTTP bytes.
   */
  fds?: readonly number[];
}

export interface ApiResponse {
  status: number;
  reason: string;
  /** Header names in lower case. */
  headers: ReadonlyMap<string, string>;
  /** The body decoded as UTF-8; empty when the answer has none. */
  body: string;
}

const CRLF = '\r\n';
const HEADER_END = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a]);
/** An answer whose header does not end within this many bytes is refused rather than buffered without bound. */
export const MAX_RESPONSE_HEADER_BYTES = 64 * 1024;

export function encodeRequest(request: ApiRequest): Uint8Array {
  const encoder = new TextEncoder();
  const body = request.body === undefined ? undefined : encoder.encode(request.body);
  let head = `${request.method} ${API_ROOT}/${request.endpoint} HTTP/1.1${CRLF}Host: localhost${CRLF}Accept: */*${CRLF}`;
  if (body !== undefined) head += `Content-Length: ${body.length}${CRLF}`;
  head += CRLF;
  const headBytes = encoder.encode(head);
  const message = new Uint8Array(headBytes.length + (body?.length ?? 0));
  message.set(headBytes, 0);
  if (body !== undefined) message.set(body, headBytes.length);
  return message;
}

export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status <= 299;
}

function invalid(message: string): RemoteError {
  return new RemoteError('INVALID_RESPONSE', message);
}

function indexOfHeaderEnd(bytes: Uint8Array): number {
  outer: for (let index = 0; index + HEADER_END.length <= bytes.length; index++) {
    for (let offset = 0; offset < HEADER_END.length; offset++) {
      if (bytes[index + offset] !== HEADER_END[offset]) continue outer;
    }
    return index;
  }
  return -1;
}

interface ResponseHead {
  status: number;
  reason: string;
  headers: Map<string, string>;
  contentLength: number;
}

function parseHead(text: string): ResponseHead {
  const [statusLine = '', ...headerLines] = text.split(CRLF);
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (match === null) throw invalid(`the answer does not start with an HTTP/1.1 status line (got "${statusLine}")`);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw invalid(`malformed header line "${line}" in the answer`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers.get(name);
    if (earlier !== undefined && earlier !== value) throw invalid(`conflicting "${name}" headers in the answer`);
    headers.set(name, value);
  }
  if (headers.has('transfer-encoding')) {
    const encoding = headers.get('transfer-encoding');
    throw invalid(`unsupported Transfer-Encoding "${encoding}" in the answer; expected a Content-Length body`);
  }
  const lengthText = headers.get('content-length');
  let contentLength = 0;
  if (lengthText !== undefined) {
    contentLength = /^\d+$/.test(lengthText) ? Number(lengthText) : Number.NaN;
    if (!Number.isSafeInteger(contentLength)) throw invalid(`invalid Content-Length "${lengthText}" in the answer`);
  }
  return { status: Number(match[1]), reason: match[2] ?? '', headers, contentLength };
}

/** Accumulates the bytes of one answer; `push` returns the response once it is complete. */
export class ResponseReader {
  #buffered = new Uint8Array(0);
  #head: ResponseHead | undefined;
  #bodyStart = 0;

  push(chunk: Uint8Array): ApiResponse | undefined {
    const joined = new Uint8Array(this.#buffered.length + chunk.length);
    joined.set(this.#buffered, 0);
    joined.set(chunk, this.#buffered.length);
    this.#buffered = joined;
    if (this.#head === undefined) {
      const headerEnd = indexOfHeaderEnd(joined);
      if (headerEnd === -1) {
        if (joined.length > MAX_RESPONSE_HEADER_BYTES) {
          throw invalid(`the answer's header is longer than ${MAX_RESPONSE_HEADER_BYTES} bytes`);
        }
        return undefined;
      }
      this.#head = parseHead(new TextDecoder().decode(joined.subarray(0, headerEnd)));
      this.#bodyStart = headerEnd + HEADER_END.length;
    }
    return this.#complete(this.#head);
  }

  /** Called when the VMM closed the connection: the complete response, or why it is incomplete. */
  finish(): ApiResponse {
    if (this.#head === undefined) {
      throw invalid(
        this.#buffered.length === 0
          ? 'the VMM closed the connection without answering'
          : 'the VMM closed the connection in the middle of the answer header',
      );
    }
    const response = this.#complete(this.#head);
    if (response === undefined) {
      const received = this.#buffered.length - this.#bodyStart;
      throw invalid(`the answer body ended after ${received} of its ${this.#head.contentLength} bytes`);
    }
    return response;
  }

  #complete(head: ResponseHead): ApiResponse | undefined {
    const bodyEnd = this.#bodyStart + head.contentLength;
    if (this.#buffered.length < bodyEnd) return undefined;
    const body = new TextDecoder().decode(this.#buffered.subarray(this.#bodyStart, bodyEnd));
    return { status: head.status, reason: head.reason, headers: head.headers, body };
  }
}
