/**
 * The API server's worker thread. It sleeps in epoll_wait on the listening socket, its client sockets and a doorbell
 * eventfd; reads requests with recvmsg (so descriptors passed as SCM_RIGHTS arrive with them), screens them
 * (request-screening.ts), posts valid ones to the main thread, and writes each answer once the main thread has
 * posted it and rung the doorbell. A failure on one connection closes that connection only.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLLIN, native } from '../host/native.ts';
import { closeDescriptor, SOCK_NONBLOCK, socketSyscalls } from '../host/unix-socket.ts';
import type { LogLevel } from '../util/logger.ts';
import type { VmmActionKind } from '../vmm/actions.ts';
import { ApiConnection } from './api-connection.ts';
import type { ApiWorkerData, ServerMessage, WorkerMessage } from './api-protocol.ts';
import type { HttpRequest } from './http-request-parser.ts';
import type { HttpResponse } from './http-response.ts';
import { replyResponse, screenRequest } from './request-screening.ts';
import type { ApiValidators } from './body-schemas.ts';
import { loadApiValidators } from './validators.ts';

const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
const EPOLL_CTL_MOD = 3;
/** Epoll tokens: the listener, the doorbell, then one per connection (never reused, unlike descriptor numbers). */
const LISTENER_TOKEN = 0;
const DOORBELL_TOKEN = 1;
const READ_CHUNK_BYTES = 64 * 1024;
const MAX_EVENTS = 64;
/** After accept4 fails (out of descriptors or memory), listen again this much later. */
const ACCEPT_RETRY_MS = 1000;

interface Client {
  token: number;
  fd: number;
  connection: ApiConnection;
  /** The epoll events currently watched. */
  interest: number;
}

class ApiWorker {
  readonly #data: ApiWorkerData;
  readonly #validators: ApiValidators;
  readonly #addon = native();
  readonly #sockets = socketSyscalls();
  readonly #epollFd: number;
  /** Open connections by epoll token. */
  readonly #clients = new Map<number, Client>();
  /** Requests with the main thread: request id -> the connection's token and the endpoint. */
  readonly #inFlight = new Map<number, { token: number; endpoint: VmmActionKind }>();
  readonly #readBuffer = new Uint8Array(READ_CHUNK_BYTES);
  #nextRequestId = 1;
  #nextToken = DOORBELL_TOKEN + 1;
  #listening = true;
  #acceptRetryAt: number | undefined;
  #stopping = false;

  constructor(data: ApiWorkerData, validators: ApiValidators) {
    this.#data = data;
    this.#validators = validators;
    this.#epollFd = this.#addon.epollCreate();
    this.#addon.epollCtl(this.#epollFd, EPOLL_CTL_ADD, data.listenFd, EPOLLIN, LISTENER_TOKEN);
    this.#addon.epollCtl(this.#epollFd, EPOLL_CTL_ADD, data.doorbellFd, EPOLLIN, DOORBELL_TOKEN);
  }

  run(): void {
    post({ type: 'ready' });
    const events = new Uint32Array(2 * MAX_EVENTS);
    while (!this.#stopping) {
      const timeout = this.#acceptRetryAt === undefined ? -1 : Math.max(0, this.#acceptRetryAt - Date.now());
      const count = this.#addon.epollWait(this.#epollFd, events, timeout);
      if (this.#acceptRetryAt !== undefined && Date.now() >= this.#acceptRetryAt) {
        this.#acceptRetryAt = undefined;
        this.#updateListening();
      }
      for (let i = 0; i < count && !this.#stopping; i++) {
        const ready = events[2 * i]!;
        const token = events[2 * i + 1]!;
        if (token === LISTENER_TOKEN) this.#accept();
        else if (token === DOORBELL_TOKEN) this.#drainMessages();
        else this.#service(token, ready);
      }
    }
    this.#shutdown();
  }

  /**
   * Accepts one connection per readiness event (epoll reports the listener again while more are pending): an
   * inherited listening socket may be blocking, and accept4 must not block here.
   */
  #accept(): void {
    if (this.#clients.size < this.#data.maxConnections) {
      let fd: number;
      try {
        fd = this.#sockets.accept4(this.#data.listenFd, SOCK_NONBLOCK);
      } catch (error) {
        log('warn', `API socket: cannot accept a connection (${(error as Error).message}); retrying in ${ACCEPT_RETRY_MS} ms`);
        this.#acceptRetryAt = Date.now() + ACCEPT_RETRY_MS;
        this.#updateListening();
        return;
      }
      if (fd >= 0) this.#addClient(fd);
    }
    this.#updateListening();
  }

  #addClient(fd: number): void {
    const token = this.#nextToken++;
    const connection = new ApiConnection(
      { write: (bytes, offset) => this.#sockets.sendmsg(fd, bytes, offset, bytes.length - offset) },
      this.#data.limits,
      (request, fds) => this.#handleRequest(token, request, fds),
    );
    this.#clients.set(token, { token, fd, connection, interest: EPOLLIN });
    this.#addon.epollCtl(this.#epollFd, EPOLL_CTL_ADD, fd, EPOLLIN, token);
  }

  /** Listens while below the connection limit and not backing off after an accept failure. */
  #updateListening(): void {
    const listen = this.#clients.size < this.#data.maxConnections && this.#acceptRetryAt === undefined;
    if (listen === this.#listening) return;
    this.#listening = listen;
    this.#addon.epollCtl(this.#epollFd, EPOLL_CTL_MOD, this.#data.listenFd, listen ? EPOLLIN : 0, LISTENER_TOKEN);
  }

  #service(token: number, ready: number): void {
    const client = this.#clients.get(token);
    if (client === undefined) return; // closed earlier in this batch of events
    const fd = client.fd;
    try {
      if ((ready & EPOLLIN) !== 0) {
        const message = this.#sockets.recvmsg(fd, this.#readBuffer, 0, this.#readBuffer.length);
        if (message.truncated) {
          closeAll(message.fds);
          throw new Error('the kernel dropped descriptors sent with a request (more than 253?)');
        }
        if (message.bytes > 0) client.connection.received(this.#readBuffer.subarray(0, message.bytes), message.fds);
        else if (message.bytes === 0) {
          closeAll(message.fds);
          client.connection.inputEnded();
        }
      } else if ((ready & (EPOLLERR | EPOLLHUP)) !== 0) {
        this.#close(client);
        return;
      }
      if ((ready & EPOLLOUT) !== 0) client.connection.flush();
      this.#update(client);
    } catch (error) {
      log('error', `API connection failed: ${(error as Error).message}`);
      this.#close(client);
    }
  }

  #handleRequest(token: number, request: HttpRequest, fds: number[]): HttpResponse | 'forwarded' {
    const screened = screenRequest(request, fds.length, this.#validators);
    if (screened.outcome === 'answer') {
      closeAll(fds);
      log('debug', `API request ${request.method} ${request.path}: ${screened.response.status} ${screened.response.json ?? ''}`);
      return screened.response;
    }
    const id = this.#nextRequestId++;
    this.#inFlight.set(id, { token, endpoint: screened.endpoint });
    post({ type: 'request', id, endpoint: screened.endpoint, body: screened.body, fds });
    return 'forwarded';
  }

  #drainMessages(): void {
    this.#addon.eventfdRead(this.#data.doorbellFd);
    for (;;) {
      const received = receiveMessageOnPort(this.#data.replies);
      if (received === undefined) return;
      const message = received.message as ServerMessage;
      if (message.type === 'stop') {
        this.#stopping = true;
        return;
      }
      const request = this.#inFlight.get(message.id);
      this.#inFlight.delete(message.id);
      const client = request === undefined ? undefined : this.#clients.get(request.token);
      if (request === undefined || client === undefined) continue; // the client hung up: its answer is dropped
      const { endpoint } = request;
      try {
        client.connection.respond(replyResponse(endpoint, message.reply, this.#validators, (problem) => log('error', problem)));
        this.#update(client);
      } catch (error) {
        log('error', `API connection failed: ${(error as Error).message}`);
        this.#close(client);
      }
    }
  }

  /** Closes the client if it is done, else watches what it waits for. */
  #update(client: Client): void {
    if (client.connection.finished) {
      this.#close(client);
      return;
    }
    const interest = (client.connection.wantsInput ? EPOLLIN : 0) | (client.connection.wantsOutput ? EPOLLOUT : 0);
    if (interest !== client.interest) {
      client.interest = interest;
      this.#addon.epollCtl(this.#epollFd, EPOLL_CTL_MOD, client.fd, interest, client.token);
    }
  }

  #close(client: Client): void {
    if (!this.#clients.delete(client.token)) return;
    this.#addon.epollCtl(this.#epollFd, EPOLL_CTL_DEL, client.fd, 0, client.token);
    closeDescriptor(client.fd);
    closeAll(client.connection.takeUnclaimedFds());
    this.#updateListening();
  }

  #shutdown(): void {
    for (const client of [...this.#clients.values()]) this.#close(client);
    closeDescriptor(this.#data.listenFd);
    closeDescriptor(this.#epollFd);
    this.#data.replies.close();
  }
}

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) closeDescriptor(fd);
}

function post(message: WorkerMessage): void {
  parentPort?.postMessage(message);
}

function log(level: LogLevel, message: string): void {
  post({ type: 'log', level, message });
}

const data = workerData as ApiWorkerData;
let validators: ApiValidators | undefined;
try {
  validators = await loadApiValidators(data.validatorCacheDir);
} catch (error) {
  closeDescriptor(data.listenFd);
  data.replies.close();
  post({ type: 'failed', message: `cannot load the API's request validators: ${(error as Error).message}` });
}
if (validators !== undefined) new ApiWorker(data, validators).run();
