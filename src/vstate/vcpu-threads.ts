/**
 * Main-thread side of the vCPU workers: starts one Worker per vCPU, and pauses, resumes or stops them through their
 * control mailboxes plus a kick (exit request + signal). Reports each worker's stop reason once.
 */
import { Worker } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Vcpu } from '../hypervisor/hypervisor.ts';
import { kickThread } from '../host/thread-kick.ts';
import { VcpuControl, VCPU_COMMAND, VCPU_STATE } from './vcpu-control.ts';
import type { VcpuStopReason } from './vcpu-loop.ts';
import type { VcpuWorkerData, VcpuWorkerMessage } from './vcpu-worker-protocol.ts';

const WORKER_URL = new URL(`./vcpu-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

interface VcpuThread {
  vcpu: Vcpu;
  control: VcpuControl;
  worker: Worker;
  thread: number;
  finished: Promise<VcpuStopReason>;
}

/** Workers started ahead of the VM build, so their start-up overlaps it; each waits for its vCPU. */
export class VcpuWorkerPool {
  private readonly workers: Worker[];

  constructor(count: number) {
    this.workers = Array.from({ length: count }, (_, i) => new Worker(WORKER_URL, { name: `vcpu${i}` }));
  }

  /** Ends the workers without running anything (the VM build failed). */
  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /**
   * Hands each worker its vCPU and resolves once all are running guest code. `onStop` is called once per vCPU with
   * the reason its loop ended (guest power-off, reset, triple fault, error or a stop request).
   */
  async start(
    vcpus: readonly Vcpu[],
    dataFor: (vcpu: Vcpu, control: SharedArrayBuffer) => VcpuWorkerData,
    onStop: (index: number, reason: VcpuStopReason) => void,
  ): Promise<VcpuThreads> {
    if (vcpus.length !== this.workers.length) throw new Error(`${vcpus.length} vCPUs for ${this.workers.length} workers`);
    const started = vcpus.map((vcpu, index) => {
      const worker = this.workers[index]!;
      const control = new VcpuControl();
      let resolveReady: (thread: number) => void;
      let rejectReady: (error: Error) => void;
      const ready = new Promise<number>((resolve, reject) => ((resolveReady = resolve), (rejectReady = reject)));
      const finished = new Promise<VcpuStopReason>((resolve) => {
        let reason: VcpuStopReason | undefined;
        worker.on('message', (message: VcpuWorkerMessage) => {
          if (message.type === 'ready') resolveReady(message.thread);
          else if (message.type === 'stopped') reason = message.reason;
        });
        worker.on('error', (error) => {
          reason ??= { kind: 'error', message: `vCPU ${vcpu.id} worker failed: ${error.message}` };
          rejectReady(error);
        });
        worker.on('exit', () => {
          control.state = VCPU_STATE.EXITED;
          rejectReady(new Error(`vCPU ${vcpu.id} worker exited before running`));
          const final = reason ?? { kind: 'error', message: `vCPU ${vcpu.id} worker exited unexpectedly` };
          onStop(index, final);
          resolve(final);
        });
      });
      worker.postMessage(dataFor(vcpu, control.buffer));
      return ready.then((thread) => ({ vcpu, control, worker, thread, finished }));
    });
    return new VcpuThreads(await Promise.all(started));
  }
}

export class VcpuThreads {
  private readonly threads: VcpuThread[];

  constructor(threads: VcpuThread[]) {
    this.threads = threads;
  }

  /** Asks every vCPU to pause and resolves when all are paused (or have exited). */
  async pause(): Promise<void> {
    for (const t of this.threads) this.command(t, VCPU_COMMAND.PAUSE);
    await Promise.all(this.threads.map((t) => t.control.waitForState(VCPU_STATE.PAUSED)));
  }

  /** Injects an NMI into every vCPU (each does it from its own thread after a kick). */
  injectNmi(): void {
    for (const t of this.threads) {
      t.control.requestNmi();
      this.kick(t);
    }
  }

  resume(): void {
    for (const t of this.threads) t.control.command = VCPU_COMMAND.RUN;
  }

  /** Stops every vCPU and waits for all workers to exit. */
  async stop(): Promise<void> {
    for (const t of this.threads) this.command(t, VCPU_COMMAND.STOP);
    await Promise.all(this.threads.map((t) => t.finished));
  }

  /** Resolves when every worker has exited. */
  async finished(): Promise<VcpuStopReason[]> {
    return Promise.all(this.threads.map((t) => t.finished));
  }

  private command(t: VcpuThread, command: (typeof VCPU_COMMAND)[keyof typeof VCPU_COMMAND]): void {
    t.control.command = command;
    this.kick(t);
  }

  private kick(t: VcpuThread): void {
    if (t.control.state === VCPU_STATE.EXITED) return;
    t.vcpu.requestExit();
    kickThread(t.thread);
  }
}
