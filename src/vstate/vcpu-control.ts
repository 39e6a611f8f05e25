/**
 * The mailbox between the main thread and one vCPU worker: a few Int32 words in a SharedArrayBuffer. The main thread
 * writes a command and kicks the vCPU out of KVM_RUN; the worker acts on it and publishes its state. Only workers
 * block (Atomics.wait); the main thread waits with Atomics.waitAsync.
 */

export const VCPU_COMMAND = { RUN: 0, PAUSE: 1, STOP: 2 } as const;
export type VcpuCommand = (typeof VCPU_COMMAND)[keyof typeof VCPU_COMMAND];

export const VCPU_STATE = { CREATED: 0, RUNNING: 1, PAUSED: 2, EXITED: 3 } as const;
export type VcpuState = (typeof VCPU_STATE)[keyof typeof VCPU_STATE];

const COMMAND = 0;
const STATE = 1;
const NMI_REQUESTED = 2;
const WORDS = 3;

export class VcpuControl {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4)) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
  }

  get command(): VcpuCommand {
    return Atomics.load(this.words, COMMAND) as VcpuCommand;
  }

  set command(value: VcpuCommand) {
    Atomics.store(this.words, COMMAND, value);
    Atomics.notify(this.words, COMMAND);
  }

  get state(): VcpuState {
    return Atomics.load(this.words, STATE) as VcpuState;
  }

  set state(value: VcpuState) {
    Atomics.store(this.words, STATE, value);
    Atomics.notify(this.words, STATE);
  }

  /** Main-thread side: asks the vCPU to inject an NMI the next time it is kicked out of the guest. */
  requestNmi(): void {
    Atomics.store(this.words, NMI_REQUESTED, 1);
  }

  /** Worker side: true (once) if an NMI was requested. */
  takeNmiRequest(): boolean {
    return Atomics.exchange(this.words, NMI_REQUESTED, 0) === 1;
  }

  /** Worker side: blocks while the command is still `current`. */
  waitWhileCommand(current: VcpuCommand): void {
    while (Atomics.load(this.words, COMMAND) === current) Atomics.wait(this.words, COMMAND, current);
  }

  /** Main-thread side: resolves once the state is `wanted` (or EXITED). */
  async waitForState(wanted: VcpuState): Promise<VcpuState> {
    for (;;) {
      const state = this.state;
      if (state === wanted || state === VCPU_STATE.EXITED) return state;
      const result = Atomics.waitAsync(this.words, STATE, state);
      if (result.async) await result.value;
    }
  }
}
