/**
 * One client connection of the API server, as a state machine independent of the socket and the event loop: bytes
 * and descriptors in, responses out. Requests are answered in order, one at a time: while one is with the VMM the
 * connection reads nothing more (pipelined requests wait in the parser). A malformed request is answered and the
 * connection closed; so is one whose client asked for `Connection: close`, or that passes more descriptors than one
 * request may carry (they would pile up otherwise). Pure: no node:* imports.
 */
import { HttpError, type HttpLimits, type HttpRequest, HttpRequestParser } from './http-request-parser.ts';
import { CONTINUE_RESPONSE, encodeResponse, errorResponse, type HttpResponse } from './http-response.ts';

/** The kernel's limit for one SCM_RIGHTS message (SCM_MAX_FD); more with one request is refused. */
export const MAX_FDS_PER_REQUEST = 253;

export interface ConnectionIo {
  /** Writes `bytes[offset..]`; returns how many bytes the socket took, or -1 when it is full. Throws if broken. */
  write(bytes: Uint8Array, offset: number): number;
}

/**
 * Takes a complete request and the descriptors that came with it: either answers it at once, or forwards it (and
 * the descriptors) to the VMM and returns 'forwarded'; `respond` then delivers the answer.
 */
export type RequestHandler = (request: HttpRequest, fds: number[]) => HttpResponse | 'forwarded';

export class ApiConnection {
  readonly #parser: HttpRequestParser;
  readonly #io: ConnectionIo;
  readonly #handle: RequestHandler;
  /** Descriptors received and not yet attached to a request. */
  #pendingFds: number[] = [];
  #output: Uint8Array[] = [];
  #outputOffset = 0;
  #awaitingReply = false;
  #keepAlive = true;
  #inputEnded = false;
  #closeWhenFlushed = false;
  #broken = false;

  constructor(io: ConnectionIo, limits: HttpLimits, handle: RequestHandler) {
    this.#io = io;
    this.#parser = new HttpRequestParser(limits);
    this.#handle = handle;
  }

  /** Bytes (and descriptors) read from the socket. */
  received(bytes: Uint8Array, fds: readonly number[]): void {
    this.#pendingFds.push(...fds);
    if (this.#pendingFds.length > MAX_FDS_PER_REQUEST) {
      this.#keepAlive = false;
      this.#send(errorResponse(400, [`too many file descriptors with one request (at most ${MAX_FDS_PER_REQUEST})`]));
      this.flush();
      return;
    }
    this.#parser.push(bytes);
    this.#process();
  }

  /** The client closed its sending side: answer what is complete, then close. */
  inputEnded(): void {
    this.#inputEnded = true;
    this.#process();
  }

  /** The VMM's answer to the forwarded request. */
  respond(response: HttpResponse): void {
    if (!this.#awaitingReply) throw new Error('respond() without a forwarded request');
    this.#awaitingReply = false;
    this.#send(response);
    this.#process();
  }

  /** Writes what the socket takes (call when it becomes writable). */
  flush(): void {
    try {
      while (this.#output.length > 0) {
        const bytes = this.#output[0]!;
        const written = this.#io.write(bytes, this.#outputOffset);
        if (written < 0) return;
        this.#outputOffset += written;
        if (this.#outputOffset === bytes.length) {
          this.#output.shift();
          this.#outputOffset = 0;
        }
      }
    } catch {
      this.#broken = true; // the client went away (EPIPE, ECONNRESET): nothing more to send
    }
  }

  /** Whether to watch the socket for input. */
  get wantsInput(): boolean {
    return !this.#awaitingReply && !this.#inputEnded && !this.#closeWhenFlushed && !this.#broken;
  }

  /** Whether output is waiting for the socket to become writable. */
  get wantsOutput(): boolean {
    return this.#output.length > 0 && !this.#broken;
  }

  /** Whether the connection should be closed now. */
  get finished(): boolean {
    if (this.#broken) return true;
    if (this.#awaitingReply || this.#output.length > 0) return false;
    return this.#closeWhenFlushed || this.#inputEnded;
  }

  /** Descriptors received that no request took; the owner closes them with the connection. */
  takeUnclaimedFds(): number[] {
    const fds = this.#pendingFds;
    this.#pendingFds = [];
    return fds;
  }

  #process(): void {
    while (!this.#awaitingReply && !this.#closeWhenFlushed && !this.#broken) {
      let request: HttpRequest | undefined;
      try {
        request = this.#parser.next();
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        this.#keepAlive = false;
        this.#send(errorResponse(error.status, [error.message]));
        break;
      }
      if (request === undefined) {
        if (this.#parser.takeContinue()) this.#output.push(CONTINUE_RESPONSE);
        break;
      }
      this.#keepAlive = request.keepAlive;
      const fds = this.takeUnclaimedFds();
      const outcome = this.#handle(request, fds);
      if (outcome === 'forwarded') {
        this.#awaitingReply = true;
        break;
      }
      this.#send(outcome);
    }
    this.flush();
  }

  #send(response: HttpResponse): void {
    const close = !this.#keepAlive || response.close === true;
    if (close) this.#closeWhenFlushed = true;
    this.#output.push(encodeResponse({ ...response, close }));
  }
}
