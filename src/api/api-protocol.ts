/**
 * The messages between the API server's main-thread side (api-server.ts) and its worker (api-worker.ts). The worker
 * posts to its parent port; the main thread posts to `replies` and then writes the doorbell eventfd, because the
 * worker sleeps in epoll_wait and drains `replies` with receiveMessageOnPort when the doorbell rings.
 */
import type { MessagePort } from 'node:worker_threads';
import type { LogLevel } from '../util/logger.ts';
import type { VmmActionKind } from '../vmm/actions.ts';
import type { HttpLimits } from './http-request-parser.ts';
import type { VmmReply } from './request-screening.ts';

/** Bodies up to 4 MiB, as upstream; the request line and headers up to 16 KiB (ch-remote sends about 100 bytes). */
export const API_LIMITS: HttpLimits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 4 * 1024 * 1024 };

/** Connections served at once; more wait in the listen backlog. */
export const MAX_API_CONNECTIONS = 64;

export interface ApiWorkerData {
  /** The listening socket; the worker closes it when it stops. */
  listenFd: number;
  /** A non-blocking eventfd the main thread writes after posting to `replies`. */
  doorbellFd: number;
  replies: MessagePort;
  limits: HttpLimits;
  maxConnections: number;
  /** Where compiled validators are kept (validators.ts); absent means `build/api/` in the package. */
  validatorCacheDir?: string;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'request'; id: number; endpoint: VmmActionKind; body: unknown; fds: number[] }
  | { type: 'log'; level: LogLevel; message: string };

export type ServerMessage = { type: 'reply'; id: number; reply: VmmReply } | { type: 'stop' };
