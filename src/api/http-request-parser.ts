/**
 * A small, strict HTTP/1.1 request parser for the API socket, fed with bytes as they arrive. It accepts what the
 * clients of Cloud Hypervisor's API send (ch-remote, curl/libvirt, Go's net/http in Kata): a request line, header
 * fields, and a body framed by Content-Length or chunked transfer coding, `Expect: 100-continue`, keep-alive and
 * pipelining. Anything ambiguous is an HttpError: conflicting lengths, obsolete line folding, whitespace before a
 * colon, control characters, unknown transfer codings; sizes are bounded. Pure: no node:* imports.
 *
 * (npm packages considered: http-parser-js is lenient where this must not be - malformed header lines are skipped,
 * Content-Length is parsed with `+value` - and is built to stand in for Node's internal binding; Node's own llhttp is
 * not exposed publicly. Neither enforces a body limit before buffering.)
 */
import { NimbusError } from '../errors/nimbus-error.ts';

/** Why a request was refused, with the HTTP status to answer (the connection is then closed). */
export const HTTP_ERROR_STATUS = {
  MALFORMED_REQUEST: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_EXPECTATION: 417,
  HEADERS_TOO_LARGE: 431,
  UNSUPPORTED_TRANSFER_CODING: 501,
  UNSUPPORTED_VERSION: 505,
} as const;
export type HttpErrorCode = keyof typeof HTTP_ERROR_STATUS;

export class HttpError extends NimbusError<HttpErrorCode> {
  get status(): number {
    return HTTP_ERROR_STATUS[this.code];
  }
}

export interface HttpLimits {
  /** Request line plus header fields, in bytes. */
  maxHeaderBytes: number;
  /** Decoded body, in bytes. */
  maxBodyBytes: number;
}

export interface HttpRequest {
  method: string;
  /** The request target as sent. */
  target: string;
  /** The target's absolute path, without query (an absolute-form target is reduced to its path). */
  path: string;
  /** Header fields by lower-case name; repeated fields are joined with ", ". */
  headers: ReadonlyMap<string, string>;
  body: Uint8Array;
  /** Whether the connection stays open after the response (HTTP/1.1 default, or HTTP/1.0 keep-alive). */
  keepAlive: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([^ ]+) ([^ \x00-\x1f\x7f]+) HTTP\/(\d)\.(\d)$/;
/** Field values: visible characters, spaces and tabs, and obs-text; no other control characters. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HEX_SIZE = /^[0-9A-Fa-f]{1,8}$/;

interface Head {
  method: string;
  target: string;
  path: string;
  headers: Map<string, string>;
  keepAlive: boolean;
  expectsContinue: boolean;
  /** Content-Length, or 'chunked'. */
  framing: number | 'chunked';
}

type Stage =
  | { kind: 'head' }
  | { kind: 'body'; head: Head }
  | { kind: 'chunk-size'; head: Head; chunks: Uint8Array[]; total: number }
  | { kind: 'chunk-data'; head: Head; chunks: Uint8Array[]; total: number; size: number }
  | { kind: 'trailers'; head: Head; chunks: Uint8Array[]; total: number };

export class HttpRequestParser {
  readonly #limits: HttpLimits;
  #buffer = new Uint8Array(4096);
  #start = 0;
  #end = 0;
  #stage: Stage = { kind: 'head' };
  #continuePending = false;
  #failed = false;
  /** How far (from #start) the search for the end of the head has looked. */
  #headScanned = 0;

  constructor(limits: HttpLimits) {
    this.#limits = limits;
  }

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buffer.length) {
      const needed = this.#end - this.#start + chunk.length;
      const grown = needed > this.#buffer.length ? new Uint8Array(Math.max(needed, this.#buffer.length * 2)) : this.#buffer;
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = grown;
      this.#end -= this.#start;
      this.#start = 0;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Bytes received and not yet part of a returned request. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * The next complete request, or undefined until more bytes arrive. Throws HttpError for a request that cannot be
   * served; the parser is then unusable (the connection must be closed once the error is answered).
   */
  next(): HttpRequest | undefined {
    if (this.#failed) throw new Error('the parser failed earlier; close the connection');
    try {
      return this.#advance();
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  /** True once for a request with `Expect: 100-continue` whose headers are in and whose body is not: send 100. */
  takeContinue(): boolean {
    const pending = this.#continuePending;
    this.#continuePending = false;
    return pending;
  }

  #advance(): HttpRequest | undefined {
    for (;;) {
      const stage = this.#stage;
      switch (stage.kind) {
        case 'head': {
          const head = this.#readHead();
          if (head === undefined) return undefined;
          if (head.framing === 'chunked') {
            this.#stage = { kind: 'chunk-size', head, chunks: [], total: 0 };
          } else {
            this.#stage = { kind: 'body', head };
          }
          this.#continuePending = head.expectsContinue && this.buffered === 0 && head.framing !== 0;
          break;
        }
        case 'body': {
          const length = stage.head.framing as number;
          if (this.buffered < length) return undefined;
          return this.#finish(stage.head, this.#take(length));
        }
        case 'chunk-size': {
          const line = this.#readLine(this.#limits.maxHeaderBytes, 'chunk size line');
          if (line === undefined) return undefined;
          const sizeText = line.split(';', 1)[0]!.trim();
          if (!HEX_SIZE.test(sizeText)) throw malformed(`invalid chunk size "${sizeText}"`);
          const size = parseInt(sizeText, 16);
          if (stage.total + size > this.#limits.maxBodyBytes) throw bodyTooLarge(this.#limits);
          this.#stage = size === 0 ? { ...stage, kind: 'trailers' } : { ...stage, kind: 'chunk-data', size };
          break;
        }
        case 'chunk-data': {
          if (this.buffered < stage.size + 2) return undefined;
          const data = this.#take(stage.size);
          const crlf = this.#take(2);
          if (crlf[0] !== CR || crlf[1] !== LF) throw malformed('chunk data not followed by CRLF');
          this.#stage = { kind: 'chunk-size', head: stage.head, chunks: [...stage.chunks, data], total: stage.total + stage.size };
          break;
        }
        case 'trailers': {
          const line = this.#readLine(this.#limits.maxHeaderBytes, 'trailer field');
          if (line === undefined) return undefined;
          if (line === '') return this.#finish(stage.head, concat(stage.chunks, stage.total));
          parseField(line); // trailer fields are checked, then ignored
          break;
        }
      }
    }
  }

  #finish(head: Head, body: Uint8Array): HttpRequest {
    this.#stage = { kind: 'head' };
    return { method: head.method, target: head.target, path: head.path, headers: head.headers, body, keepAlive: head.keepAlive };
  }

  /** Parses the request line and header fields once the blank line that ends them has arrived. */
  #readHead(): Head | undefined {
    // Empty lines before a request line are ignored (RFC 9112 2.2).
    for (;;) {
      const first = this.#buffer[this.#start];
      const blank = this.buffered === 0 ? 0 : first === LF ? 1 : first === CR && this.#buffer[this.#start + 1] === LF ? 2 : 0;
      if (blank === 0) break;
      this.#take(blank);
    }
    const end = this.#findHeadEnd();
    if (end === undefined) {
      if (this.buffered > this.#limits.maxHeaderBytes) throw headersTooLarge(this.#limits);
      return undefined;
    }
    if (end.length > this.#limits.maxHeaderBytes) throw headersTooLarge(this.#limits);
    const text = latin1(this.#take(end.length));
    this.#take(end.terminator);
    const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
    lines.pop(); // the head ends with a line feed
    return parseHead(lines, this.#limits);
  }

  /**
   * Where the head ends: its length up to the line feed of its last line, and the length of the blank line after it.
   * Resumes where the previous call stopped, so a head arriving byte by byte is scanned once.
   */
  #findHeadEnd(): { length: number; terminator: number } | undefined {
    const bytes = this.#buffer;
    for (let i = this.#start + this.#headScanned; i < this.#end; i++) {
      if (bytes[i] !== LF) continue;
      if (bytes[i + 1] === LF && i + 1 < this.#end) return this.#headFound(i + 1 - this.#start, 1);
      if (bytes[i + 1] === CR && bytes[i + 2] === LF && i + 2 < this.#end) return this.#headFound(i + 1 - this.#start, 2);
    }
    this.#headScanned = Math.max(0, this.#end - this.#start - 3);
    return undefined;
  }

  #headFound(length: number, terminator: number): { length: number; terminator: number } {
    this.#headScanned = 0;
    return { length, terminator };
  }

  /** One line (without its line ending), or undefined until it is complete. */
  #readLine(limit: number, what: string): string | undefined {
    const newline = this.#buffer.subarray(this.#start, this.#end).indexOf(LF);
    if (newline === -1) {
      if (this.buffered > limit) throw malformed(`${what} longer than ${limit} bytes`);
      return undefined;
    }
    const line = latin1(this.#take(newline));
    this.#take(1);
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  }

  /** Removes `length` buffered bytes and returns a copy of them. */
  #take(length: number): Uint8Array {
    const bytes = this.#buffer.slice(this.#start, this.#start + length);
    this.#start += length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return bytes;
  }
}

function parseHead(lines: string[], limits: HttpLimits): Head {
  const requestLine = lines[0] ?? '';
  const match = REQUEST_LINE.exec(requestLine);
  if (match === null) throw malformed(`invalid request line "${printable(requestLine)}"`);
  const [, method = '', target = '', major, minor] = match;
  if (!TOKEN.test(method)) throw malformed(`invalid method "${printable(method)}"`);
  if (major !== '1') throw new HttpError('UNSUPPORTED_VERSION', `HTTP/${major}.${minor} is not supported; use HTTP/1.1`);
  const http10 = minor === '0';

  const headers = new Map<string, string>();
  const contentLengths: string[] = [];
  for (const line of lines.slice(1)) {
    const { name, value } = parseField(line);
    if (name === 'content-length') contentLengths.push(...value.split(',').map((part) => part.trim()));
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
  }

  const connection = (headers.get('connection') ?? '').toLowerCase().split(',').map((token) => token.trim());
  const keepAlive = http10 ? connection.includes('keep-alive') : !connection.includes('close');
  const expect = headers.get('expect');
  if (expect !== undefined && expect.toLowerCase() !== '100-continue') {
    throw new HttpError('UNSUPPORTED_EXPECTATION', `unsupported Expect: ${printable(expect)} (only 100-continue is)`);
  }
  return {
    method,
    target,
    path: targetPath(target),
    headers,
    keepAlive,
    expectsContinue: expect !== undefined && !http10,
    framing: bodyFraming(headers.get('transfer-encoding'), contentLengths, http10, limits),
  };
}

function bodyFraming(transferEncoding: string | undefined, contentLengths: string[], http10: boolean, limits: HttpLimits): number | 'chunked' {
  if (transferEncoding !== undefined) {
    if (contentLengths.length > 0) throw malformed('both Transfer-Encoding and Content-Length are given; send one');
    if (http10) throw malformed('Transfer-Encoding is not allowed in HTTP/1.0');
    if (transferEncoding.trim().toLowerCase() !== 'chunked') {
      throw new HttpError('UNSUPPORTED_TRANSFER_CODING', `unsupported Transfer-Encoding: ${printable(transferEncoding)} (only chunked is)`);
    }
    return 'chunked';
  }
  if (contentLengths.length === 0) return 0;
  const [first = ''] = contentLengths;
  if (!/^\d+$/.test(first) || contentLengths.some((length) => length !== first)) {
    throw malformed(`invalid Content-Length: ${printable(contentLengths.join(', '))}`);
  }
  const length = Number(first);
  if (length > limits.maxBodyBytes) throw bodyTooLarge(limits);
  return length;
}

function parseField(line: string): { name: string; value: string } {
  const colon = line.indexOf(':');
  const name = colon === -1 ? '' : line.slice(0, colon);
  if (!TOKEN.test(name)) {
    const problem = line.startsWith(' ') || line.startsWith('\t') ? 'folded header lines are not supported' : 'invalid header field';
    throw malformed(`${problem}: "${printable(line)}"`);
  }
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (!FIELD_VALUE.test(value)) throw malformed(`header field ${name} contains control characters`);
  return { name: name.toLowerCase(), value };
}

/** The absolute path of an origin-form (`/a/b?q`) or absolute-form (`http://host/a/b`) target. */
function targetPath(target: string): string {
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  const rest = absolute === null ? target : target.slice(absolute[0].length) || '/';
  return rest.replace(/[?#].*$/s, '');
}

function latin1(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/** Text safe to quote in an error message: control characters escaped, at most 100 characters. */
function printable(text: string): string {
  const escaped = text.replace(/[\x00-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > 100 ? `${escaped.slice(0, 100)}...` : escaped;
}

function malformed(problem: string): HttpError {
  return new HttpError('MALFORMED_REQUEST', `malformed HTTP request: ${problem}`);
}

function headersTooLarge(limits: HttpLimits): HttpError {
  return new HttpError('HEADERS_TOO_LARGE', `the request line and headers exceed ${limits.maxHeaderBytes} bytes`);
}

function bodyTooLarge(limits: HttpLimits): HttpError {
  return new HttpError('BODY_TOO_LARGE', `the request body exceeds the ${limits.maxBodyBytes}-byte limit`);
}
