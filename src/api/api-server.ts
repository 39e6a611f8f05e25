/**
 * The REST API server, main-thread side: creates (or adopts) the listening socket, runs the worker that serves HTTP
 * on it (api-worker.ts), turns each request the worker forwards into a VmmAction (routes.ts), calls
 * VmmControl.handle, and maps the result or error to the answer:
 * - VmmActionError: its code's status (VMM_ERROR_STATUS);
 * - ConfigError: 409 for IDENTIFIER_NOT_UNIQUE and DUPLICATE_DEVICE_PATH (as upstream), 501 for UNSUPPORTED (the
 *   same "not supported by Nimbus yet" message as the CLI), 400 otherwise;
 * - anything else: 500 with its message, logged; the server keeps serving.
 * Error bodies are the error chain (message, then causes) as a JSON array of strings.
 *
 * Descriptors passed with a request belong to the VMM once `handle` succeeds; when the action cannot be built or
 * `handle` fails, the server closes them. Requests on different connections reach `handle` concurrently (one at a
 * time per connection); the VMM orders them.
 */
import { unlinkSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { EventFd } from '../host/eventfd.ts';
import { adoptListeningSocket, closeDescriptor, listenUnixSocket } from '../host/unix-socket.ts';
import { NimbusError } from '../errors/nimbus-error.ts';
import type { Logger } from '../util/logger.ts';
import { type VmmControl, VmmActionError, VMM_ERROR_STATUS, type VmmActionKind } from '../vmm/actions.ts';
import { ConfigError, type ConfigErrorCode } from '../vmm/config/config-error.ts';
import type { PathOrFd } from '../vmm/config/vmm-options.ts';
import { API_LIMITS, type ApiWorkerData, MAX_API_CONNECTIONS, type ServerMessage, type WorkerMessage } from './api-protocol.ts';
import type { VmmReply } from './request-screening.ts';
import { ROUTES } from './routes.ts';

const WORKER_URL = new URL(`./api-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export type ApiServerErrorCode = 'START_FAILED';
export class ApiServerError extends NimbusError<ApiServerErrorCode> {}

export interface ApiServerOptions {
  /** `--api-socket`: a path to create, or an inherited listening socket. */
  socket: PathOrFd;
  control: VmmControl;
  logger: Logger;
  /** Where the compiled request validators are kept; absent means `build/api/` in the package (tests override). */
  validatorCacheDir?: string;
}

/** ConfigError codes answered with something other than 400. */
const CONFIG_ERROR_STATUS: Partial<Record<ConfigErrorCode, number>> = {
  IDENTIFIER_NOT_UNIQUE: 409,
  DUPLICATE_DEVICE_PATH: 409,
  UNSUPPORTED: 501,
};

export class ApiServer {
  readonly #worker: Worker;
  readonly #replies: MessagePort;
  readonly #doorbell: EventFd;
  readonly #options: ApiServerOptions;
  /** The socket file this server created (and removes). */
  readonly #createdPath: string | undefined;
  readonly #exited: Promise<void>;
  readonly #onProcessExit = (): void => this.#requestStop();
  #stopRequested = false;
  #socketFileRemoved = false;

  /** Starts serving; resolves once the worker is ready. Throws ApiServerError or UnixSocketError. */
  static async start(options: ApiServerOptions): Promise<ApiServer> {
    const socket = options.socket;
    const listenFd = 'path' in socket ? listenUnixSocket(socket.path) : adoptListeningSocket(socket.fd);
    const server = new ApiServer(options, listenFd, 'path' in socket ? socket.path : undefined);
    await server.#ready();
    return server;
  }

  private constructor(options: ApiServerOptions, listenFd: number, createdPath: string | undefined) {
    this.#options = options;
    this.#createdPath = createdPath;
    this.#doorbell = new EventFd({ nonBlocking: true });
    const { port1, port2 } = new MessageChannel();
    this.#replies = port1;
    const workerData: ApiWorkerData = {
      listenFd,
      doorbellFd: this.#doorbell.fd,
      replies: port2,
      limits: API_LIMITS,
      maxConnections: MAX_API_CONNECTIONS,
      ...(options.validatorCacheDir === undefined ? {} : { validatorCacheDir: options.validatorCacheDir }),
    };
    this.#worker = new Worker(WORKER_URL, { name: 'api', workerData, transferList: [port2] });
    this.#worker.on('message', (message: WorkerMessage) => this.#onMessage(message));
    this.#worker.on('error', (error) => options.logger.error(`the API server failed: ${error.message}; the API is no longer served`));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    // A process that exits without stop() must still wake the worker (blocked in epoll_wait) so Node can end it.
    process.once('exit', this.#onProcessExit);
  }

  /** The socket file this server created, if it was given a path. */
  get socketPath(): string | undefined {
    return this.#createdPath;
  }

  /** Stops serving: closes every connection and the listening socket, and removes the socket file. */
  async stop(): Promise<void> {
    this.#requestStop();
    await this.#exited;
    this.#cleanUp();
  }

  #ready(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onMessage = (message: WorkerMessage): void => {
        if (message.type === 'ready') settle(() => resolve());
        if (message.type === 'failed') settle(() => reject(new ApiServerError('START_FAILED', message.message)));
      };
      const onError = (error: Error): void =>
        settle(() => reject(new ApiServerError('START_FAILED', `the API worker failed: ${error.message}`, { cause: error })));
      const onExit = (): void => settle(() => reject(new ApiServerError('START_FAILED', 'the API worker exited while starting')));
      const settle = (finish: () => void): void => {
        this.#worker.off('message', onMessage);
        this.#worker.off('error', onError);
        this.#worker.off('exit', onExit);
        finish();
      };
      this.#worker.on('message', onMessage);
      this.#worker.on('error', onError);
      this.#worker.on('exit', onExit);
    }).catch(async (error: unknown) => {
      await this.#exited;
      this.#cleanUp();
      throw error;
    });
  }

  #onMessage(message: WorkerMessage): void {
    switch (message.type) {
      case 'request':
        void this.#serve(message.id, message.endpoint, message.body, message.fds);
        break;
      case 'log':
        this.#options.logger[message.level](message.message);
        break;
      case 'ready':
      case 'failed':
        break; // handled by #ready()
    }
  }

  async #serve(id: number, endpoint: VmmActionKind, body: unknown, fds: number[]): Promise<void> {
    const { logger, control } = this.#options;
    logger.debug(`API request: ${endpoint}`);
    let reply: VmmReply;
    try {
      const result = await control.handle(ROUTES[endpoint].action(body, fds));
      reply = { ok: true, body: result.body };
    } catch (error) {
      fds.forEach(closeDescriptor);
      reply = errorReply(error);
      if (reply.status >= 500 && reply.status !== 501) logger.error(`API request ${endpoint} failed: ${reply.messages.join(': ')}`);
      else logger.debug(`API request ${endpoint}: ${reply.status} ${reply.messages.join(': ')}`);
    }
    this.#post({ type: 'reply', id, reply });
  }

  #post(message: ServerMessage): void {
    if (this.#stopRequested && message.type === 'reply') return;
    this.#replies.postMessage(message);
    this.#doorbell.write(1);
  }

  #requestStop(): void {
    if (this.#stopRequested) return;
    this.#post({ type: 'stop' });
    this.#stopRequested = true;
    process.off('exit', this.#onProcessExit);
    this.#removeSocketFile();
  }

  #cleanUp(): void {
    process.off('exit', this.#onProcessExit);
    this.#replies.close();
    this.#doorbell.close();
    this.#removeSocketFile();
  }

  /** Removes the socket file this server created, once (so no client connects to a server that is going away). */
  #removeSocketFile(): void {
    if (this.#createdPath === undefined || this.#socketFileRemoved) return;
    this.#socketFileRemoved = true;
    try {
      unlinkSync(this.#createdPath);
    } catch {
      // already removed by someone else
    }
  }
}

/** The status and error chain for an error from building or carrying out an action. */
export function errorReply(error: unknown): Extract<VmmReply, { ok: false }> {
  return { ok: false, status: errorStatus(error), messages: errorChain(error) };
}

function errorStatus(error: unknown): number {
  if (error instanceof VmmActionError) return VMM_ERROR_STATUS[error.code];
  if (error instanceof ConfigError) return CONFIG_ERROR_STATUS[error.code as ConfigErrorCode] ?? 400;
  return 500;
}

function errorChain(error: unknown): string[] {
  const messages: string[] = [];
  for (let cause: unknown = error; cause !== undefined && messages.length < 8; cause = (cause as { cause?: unknown }).cause) {
    messages.push(cause instanceof Error ? cause.message : String(cause));
    if (!(cause instanceof Error)) break;
  }
  return messages;
}
