/**
 * The 16550A UART's mutable state in shared memory (one SharedArrayBuffer that every thread's Uart16550 instance
 * views), its receive FIFO ring, its power-on values and its snapshot format. Accesses happen under the device's
 * SharedLock, except the receive-space counter, which the input side reads and waits on with Atomics.
 * Pure: no node:* imports.
 */
import { checkStateBuffer } from '../device-contracts.ts';
import { SNAPSHOT_VERSION, SnapshotReader } from '../snapshot.ts';
import { FCR, IER, LSR, MCR, MSR } from './uart-registers.ts';

/** Receive FIFO capacity (as Firecracker's and Cloud Hypervisor's UART). */
export const RECEIVE_FIFO_BYTES = 64;

/** Byte offsets in the shared state buffer. */
export const UART_STATE = {
  DIVISOR_LOW: 0,
  DIVISOR_HIGH: 1,
  INTERRUPT_ENABLE: 2,
  LINE_CONTROL: 3,
  MODEM_CONTROL: 4,
  /** Sticky LSR error bits (LSR.ERRORS), cleared by reading LSR. */
  LINE_STATUS_ERRORS: 5,
  /** MSR change bits (MSR.DELTAS), cleared by reading MSR. */
  MODEM_STATUS_DELTAS: 6,
  SCRATCH: 7,
  /** FCR bits the UART retains (FCR.RETAINED). */
  FIFO_CONTROL: 8,
  /** 1 while a THR-empty interrupt is pending (set when THR drains or IER enables it; cleared by reading IIR). */
  THR_EMPTY_PENDING: 9,
  RECEIVE_HEAD: 10,
  RECEIVE_COUNT: 11,
  /** Int32 counter bumped (and Atomics.notify'd) whenever receive FIFO space is freed. */
  RECEIVE_SPACE_SIGNAL: 12,
  RECEIVE_FIFO: 16,
} as const;

export const UART_STATE_BYTES = UART_STATE.RECEIVE_FIFO + RECEIVE_FIFO_BYTES;

/** Divisor 12: 9600 baud from the PC's 1.8432 MHz clock. */
const POWER_ON_DIVISOR = 12;
/** 8 data bits, 1 stop bit, no parity. */
const POWER_ON_LINE_CONTROL = 0x03;

/** The UART's state as saved in snapshots. */
export interface UartSnapshot {
  readonly version: 1;
  readonly divisorLatch: number;
  readonly interruptEnable: number;
  readonly lineControl: number;
  readonly modemControl: number;
  readonly lineStatusErrors: number;
  readonly modemStatusDeltas: number;
  readonly scratch: number;
  readonly fifoControl: number;
  readonly thrEmptyInterruptPending: boolean;
  /** Received bytes not yet read by the guest, oldest first. */
  readonly receiveFifo: readonly number[];
}

/** Byte view over a UART state buffer (validated). */
export function uartStateView(state: SharedArrayBuffer): Uint8Array {
  return new Uint8Array(checkStateBuffer(state, UART_STATE_BYTES, 'serial'), 0, UART_STATE_BYTES);
}

/** Writes the power-on register values; OUT2 starts set so guests that never touch MCR still get interrupts. */
export function powerOnUart(state: Uint8Array): void {
  state.fill(0, 0, UART_STATE.RECEIVE_SPACE_SIGNAL);
  state.fill(0, UART_STATE.RECEIVE_FIFO);
  state[UART_STATE.DIVISOR_LOW] = POWER_ON_DIVISOR;
  state[UART_STATE.LINE_CONTROL] = POWER_ON_LINE_CONTROL;
  state[UART_STATE.MODEM_CONTROL] = MCR.OUT2;
}

export function receiveCount(state: Uint8Array): number {
  return Atomics.load(state, UART_STATE.RECEIVE_COUNT);
}

/** Appends a byte; the caller has checked there is room. */
export function pushReceived(state: Uint8Array, byte: number): void {
  const count = receiveCount(state);
  const tail = (state[UART_STATE.RECEIVE_HEAD]! + count) % RECEIVE_FIFO_BYTES;
  state[UART_STATE.RECEIVE_FIFO + tail] = byte;
  Atomics.store(state, UART_STATE.RECEIVE_COUNT, count + 1);
}

/** Removes and returns the oldest byte; the caller has checked the FIFO is not empty. */
export function popReceived(state: Uint8Array): number {
  const head = state[UART_STATE.RECEIVE_HEAD]!;
  const byte = state[UART_STATE.RECEIVE_FIFO + head]!;
  state[UART_STATE.RECEIVE_HEAD] = (head + 1) % RECEIVE_FIFO_BYTES;
  Atomics.store(state, UART_STATE.RECEIVE_COUNT, receiveCount(state) - 1);
  return byte;
}

export function clearReceived(state: Uint8Array): void {
  state[UART_STATE.RECEIVE_HEAD] = 0;
  Atomics.store(state, UART_STATE.RECEIVE_COUNT, 0);
}

export function saveUart(state: Uint8Array): UartSnapshot {
  const head = state[UART_STATE.RECEIVE_HEAD]!;
  const receiveFifo = Array.from(
    { length: receiveCount(state) },
    (_, i) => state[UART_STATE.RECEIVE_FIFO + ((head + i) % RECEIVE_FIFO_BYTES)]!,
  );
  return {
    version: SNAPSHOT_VERSION,
    divisorLatch: state[UART_STATE.DIVISOR_LOW]! | (state[UART_STATE.DIVISOR_HIGH]! << 8),
    interruptEnable: state[UART_STATE.INTERRUPT_ENABLE]!,
    lineControl: state[UART_STATE.LINE_CONTROL]!,
    modemControl: state[UART_STATE.MODEM_CONTROL]!,
    lineStatusErrors: state[UART_STATE.LINE_STATUS_ERRORS]!,
    modemStatusDeltas: state[UART_STATE.MODEM_STATUS_DELTAS]!,
    scratch: state[UART_STATE.SCRATCH]!,
    fifoControl: state[UART_STATE.FIFO_CONTROL]!,
    thrEmptyInterruptPending: state[UART_STATE.THR_EMPTY_PENDING] === 1,
    receiveFifo,
  };
}

/** Validates a snapshot completely, then writes it into the shared state (the receive FIFO starts at slot 0). */
export function restoreUart(state: Uint8Array, data: unknown): void {
  const snapshot = new SnapshotReader(data, 'serial');
  const divisorLatch = snapshot.integer('divisorLatch', 0xffff);
  const interruptEnable = snapshot.bits('interruptEnable', IER.IMPLEMENTED);
  const lineControl = snapshot.integer('lineControl', 0xff);
  const modemControl = snapshot.bits('modemControl', MCR.IMPLEMENTED);
  const lineStatusErrors = snapshot.bits('lineStatusErrors', LSR.ERRORS);
  const modemStatusDeltas = snapshot.bits('modemStatusDeltas', MSR.DELTAS);
  const scratch = snapshot.integer('scratch', 0xff);
  const fifoControl = snapshot.bits('fifoControl', FCR.RETAINED);
  const thrEmptyPending = snapshot.boolean('thrEmptyInterruptPending');
  const receiveFifo = snapshot.bytes('receiveFifo', RECEIVE_FIFO_BYTES);

  state[UART_STATE.DIVISOR_LOW] = divisorLatch & 0xff;
  state[UART_STATE.DIVISOR_HIGH] = divisorLatch >> 8;
  state[UART_STATE.INTERRUPT_ENABLE] = interruptEnable;
  state[UART_STATE.LINE_CONTROL] = lineControl;
  state[UART_STATE.MODEM_CONTROL] = modemControl;
  state[UART_STATE.LINE_STATUS_ERRORS] = lineStatusErrors;
  state[UART_STATE.MODEM_STATUS_DELTAS] = modemStatusDeltas;
  state[UART_STATE.SCRATCH] = scratch;
  state[UART_STATE.FIFO_CONTROL] = fifoControl;
  state[UART_STATE.THR_EMPTY_PENDING] = thrEmptyPending ? 1 : 0;
  clearReceived(state);
  for (const byte of receiveFifo) pushReceived(state, byte);
}
