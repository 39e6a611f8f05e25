/**
 * Main-thread side of one device's I/O worker: spawns the Worker early (its start-up overlaps the VM build), hands
 * it the device once the VM exists, and stops it. The main thread owns the device's mailbox and doorbell eventfd,
 * which vCPU workers use for as long as they run, so the doorbell is closed only after everything stopped.
 *
 * A stop never hangs: the stop request is left in the mailbox, the doorbell wakes the worker from epoll_wait, and
 * thread kicks (repeated until it exits) interrupt a backend read that blocks. Whenever the worker ends, for
 * whatever reason, the mailbox is closed so that a vCPU waiting for an answer gets all ones instead.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EventFd } from '../../host/eventfd.ts';
import { kickThread } from '../../host/thread-kick.ts';
import type { Logger } from '../../util/logger.ts';
import { createMailbox, MailboxControl } from './device-mailbox.ts';
import type { IoWorkerCounters, IoWorkerData, IoWorkerMessage } from './io-worker-protocol.ts';
import { PciDeviceError } from './pci-device-error.ts';

const WORKER_URL = new URL(`./io-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
/** How often a stopping worker is kicked again (a kick that lands before a blocking call is lost). */
const KICK_INTERVAL_MS = 20;

/** What the caller provides; the mailbox and doorbell are the thread's own. */
export type IoWorkerStart = Omit<IoWorkerData, 'id' | 'mailbox' | 'doorbellFd'>;

export class IoWorkerThread {
  readonly id: string;
  /** The device's mailbox (device-mailbox.ts), for vCPU workers. */
  readonly mailbox = createMailbox();
  /** The eventfd that wakes the worker, for vCPU workers. Non-blocking: the worker drains it. */
  readonly doorbell = new EventFd({ nonBlocking: true });
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private hasExited = false;
  private started = false;
  private thread: number | undefined;
  private counters: IoWorkerCounters | undefined;
  private failure: string | undefined;

  /** Spawns the worker for device `id`; it waits for start(). */
  constructor(id: string, logger: Logger) {
    this.id = id;
    this.worker = new Worker(WORKER_URL, { name: `io-${id}` });
    this.worker.on('message', (message: IoWorkerMessage) => {
      if (message.type === 'ready') this.thread = message.thread;
      else if (message.type === 'failed') this.failure = message.message;
      else this.counters = message.counters;
    });
    this.worker.on('error', (error) => {
      this.failure ??= error.message;
      if (this.thread !== undefined) logger.error(`${id}: the device's I/O worker failed: ${error.message}`);
    });
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        this.hasExited = true;
        new MailboxControl(this.mailbox).close();
        resolve();
      }),
    );
  }

  /** Hands the worker its device; resolves once it serves the device. Throws WORKER_START_FAILED otherwise. */
  async start(data: IoWorkerStart): Promise<void> {
    this.started = true;
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: IoWorkerMessage): void => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'failed') reject(this.startFailed(message.message));
        else return;
        this.worker.off('message', onMessage);
      };
      this.worker.on('message', onMessage);
      void this.exited.then(() => reject(this.startFailed(this.failure ?? 'the worker exited')));
    });
    this.worker.postMessage({ ...data, id: this.id, mailbox: this.mailbox, doorbellFd: this.doorbell.fd } satisfies IoWorkerData);
    await ready;
  }

  /** Stops the worker and waits for it to exit; returns what it counted (undefined if it never ran). */
  async stop(): Promise<IoWorkerCounters | undefined> {
    if (!this.hasExited && !this.started) await this.worker.terminate();
    if (!this.hasExited) {
      new MailboxControl(this.mailbox).requestStop();
      this.doorbell.write();
      const kick = (): void => {
        if (this.thread !== undefined) kickThread(this.thread);
      };
      kick();
      const timer = setInterval(kick, KICK_INTERVAL_MS);
      await this.exited;
      clearInterval(timer);
    }
    return this.counters;
  }

  /** Closes the doorbell; call after stop() and after every vCPU worker has exited. */
  close(): void {
    this.doorbell.close();
  }

  private startFailed(reason: string): PciDeviceError {
    return new PciDeviceError('WORKER_START_FAILED', `${this.id}: the device's I/O worker could not start: ${reason}`);
  }
}
