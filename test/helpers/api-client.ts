/**
 * A small HTTP/1.1 client of the API socket for tests and benchmarks: keep-alive connections, raw bytes for
 * malformed requests, and file descriptors passed with a request (SCM_RIGHTS) through the addon. Responses are read
 * asynchronously through node:net, so the main thread stays free to run the server's VmmControl.
 */
import { Socket } from 'node:net';
import { connectUnixSocket, socketSyscalls } from '../../src/host/unix-socket.ts';

export interface ApiResponse {
  status: number;
  /** Header fields by lower-case name. */
  headers: Map<string, string>;
  /** The parsed JSON body, or undefined when there is none. */
  body: unknown;
  /** The raw response head and body. */
  raw: string;
}

/** A request body: a value to send as JSON, or the exact text or bytes to send. */
export type RequestBody = unknown;

const encoder = new TextEncoder();

export class ApiClient {
  readonly #socket: Socket;
  readonly #fd: number;
  #received = Buffer.alloc(0);
  #responses: ApiResponse[] = [];
  #waiters: { resolve: (response: ApiResponse) => void; reject: (error: Error) => void }[] = [];
  #ended = false;
  readonly #closed: Promise<void>;

  /** Connects to the API socket at `socketPath`. */
  static connect(socketPath: string): ApiClient {
    return new ApiClient(connectUnixSocket(socketPath));
  }

  private constructor(fd: number) {
    this.#fd = fd;
    this.#socket = new Socket({ fd, readable: true, writable: true });
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#closed = new Promise((resolve) => this.#socket.once('close', () => resolve()));
    this.#socket.once('close', () => this.#onEnd());
    this.#socket.on('error', () => this.#onEnd());
  }

  /**
   * Sends a request and resolves to its response. `path` is an endpoint (`vm.info`) or a full path (`/api/v1/...`).
   * `fds` travel with the first byte of the request.
   */
  async request(method: string, path: string, body?: RequestBody, fds: readonly number[] = []): Promise<ApiResponse> {
    const response = this.response();
    await this.send(encodeRequest(method, path, body), fds);
    return response;
  }

  /** Sends bytes as they are (with `fds` on the first byte). */
  async send(data: Uint8Array | string, fds: readonly number[] = []): Promise<void> {
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    let sent = 0;
    if (fds.length > 0) {
      if (this.#socket.writableLength > 0) await new Promise((resolve) => this.#socket.once('drain', resolve));
      sent = socketSyscalls().sendmsg(this.#fd, bytes, 0, bytes.length, fds);
      if (sent < 0) throw new Error('the socket is full; cannot pass descriptors now');
    }
    if (sent < bytes.length) this.#socket.write(bytes.subarray(sent));
  }

  /** The next response on this connection. */
  response(): Promise<ApiResponse> {
    const ready = this.#responses.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#ended) return Promise.reject(new Error('the server closed the connection'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Resolves when the server has closed the connection. */
  closed(): Promise<void> {
    return this.#closed;
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#received = Buffer.concat([this.#received, chunk]);
    for (;;) {
      const response = this.#parseOne();
      if (response === undefined) return;
      if (response.status >= 100 && response.status < 200) continue; // interim (100 Continue)
      const waiter = this.#waiters.shift();
      if (waiter === undefined) this.#responses.push(response);
      else waiter.resolve(response);
    }
  }

  #onEnd(): void {
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error('the server closed the connection'));
  }

  #parseOne(): ApiResponse | undefined {
    const headEnd = this.#received.indexOf('\r\n\r\n');
    if (headEnd === -1) return undefined;
    const head = this.#received.subarray(0, headEnd).toString('latin1');
    const [statusLine = '', ...fields] = head.split('\r\n');
    const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
    if (match === null) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const headers = new Map(
      fields.map((field) => {
        const colon = field.indexOf(':');
        return [field.slice(0, colon).toLowerCase(), field.slice(colon + 1).trim()] as const;
      }),
    );
    const length = Number(headers.get('content-length') ?? 0);
    const total = headEnd + 4 + length;
    if (this.#received.length < total) return undefined;
    const text = this.#received.subarray(headEnd + 4, total).toString('utf8');
    const raw = this.#received.subarray(0, total).toString('utf8');
    this.#received = this.#received.subarray(total);
    return { status: Number(match[1]), headers, body: text === '' ? undefined : (JSON.parse(text) as unknown), raw };
  }
}

/** The bytes of a request as ch-remote frames it (plus Content-Type). */
export function encodeRequest(method: string, path: string, body?: RequestBody): Uint8Array {
  const target = path.startsWith('/') ? path : `/api/v1/${path}`;
  const payload =
    body === undefined ? undefined : body instanceof Uint8Array ? body : encoder.encode(typeof body === 'string' ? body : JSON.stringify(body));
  const head = [`${method} ${target} HTTP/1.1`, 'Host: localhost', 'Accept: */*'];
  if (payload !== undefined) head.push('Content-Type: application/json', `Content-Length: ${payload.length}`);
  const headBytes = encoder.encode(`${head.join('\r\n')}\r\n\r\n`);
  const bytes = new Uint8Array(headBytes.length + (payload?.length ?? 0));
  bytes.set(headBytes);
  if (payload !== undefined) bytes.set(payload, headBytes.length);
  return bytes;
}

/** One request on a fresh connection. */
export async function apiRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: RequestBody,
  fds: readonly number[] = [],
): Promise<ApiResponse> {
  const client = ApiClient.connect(socketPath);
  try {
    return await client.request(method, path, body, fds);
  } finally {
    client.close();
  }
}
