/**
 * A 16550A UART as Cloud Hypervisor and Firecracker emulate it (COM1 at 0x3F8, IRQ 4), with its registers in shared
 * memory so that each vCPU worker (guest port I/O) and the main thread (host input) run their own cheap instance
 * over the same state, serialised by the device's SharedLock (wrap instances in LockedDevice).
 *
 * Behaviour:
 * - Transmission is instant: a THR write goes to the output sink at once (or, in loopback mode, into the receive
 *   FIFO, setting LSR overrun when it is full), so LSR always shows THR empty and transmitter empty.
 * - IIR reports the highest-priority enabled pending interrupt (line status > received data > THR empty > modem
 *   status) and, when FCR enabled the FIFOs, bits 6-7 set as a 16550A does. Reading IIR when it reports THR empty
 *   clears that interrupt; enabling the THR-empty interrupt in IER while THR is empty makes it pending.
 * - The interrupt output is a level: some enabled interrupt pending, MCR.OUT2 set (it gates the IRQ on PCs) and not
 *   in loopback. The edge-triggered InterruptLine fires on each rising edge of that level; a THR write counts as
 *   THR-empty dropping and rising again (the byte was loaded and sent), so every transmitted byte can interrupt.
 * - The receive FIFO holds 64 bytes whether or not the FIFOs are enabled; the FCR trigger level is retained but
 *   received data interrupts as soon as one byte is there (no character-timeout interrupt is needed then).
 * - Modem lines: the host side is always ready (CTS, DSR and DCD set); in loopback they follow MCR (RTS->CTS,
 *   DTR->DSR, OUT1->RI, OUT2->DCD), and their changes set the MSR delta bits.
 * - Reading RBR with the FIFO empty returns 0; writes to LSR and MSR (read-only) are ignored; wider accesses
 *   follow the byte-register rule of device-contracts.ts (low byte written, extra bytes read 0).
 * Pure: no node:* imports.
 */
import type { InterruptLine } from '../../interrupt/interrupt-line.ts';
import { answerByte, writtenByte, type ByteSink, type StatefulDevice } from '../device-contracts.ts';
import { FCR, IER, IIR, LCR, LSR, MCR, MSR, UART_PORT } from './uart-registers.ts';
import {
  clearReceived,
  popReceived,
  powerOnUart,
  pushReceived,
  receiveCount,
  restoreUart,
  saveUart,
  uartStateView,
  RECEIVE_FIFO_BYTES,
  UART_STATE,
  UART_STATE_BYTES,
  type UartSnapshot,
} from './uart-state.ts';

/** Modem status lines seen when not in loopback: the host end of the line is always ready. */
const CONNECTED_LINE_STATUS = MSR.CTS | MSR.DSR | MSR.DCD;

/** Atomics.waitAsync (ES2024; present in Node 20 but not in the ES2022 library typings). */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class Uart16550 implements StatefulDevice {
  static readonly STATE_BYTES = UART_STATE_BYTES;

  private readonly state: Uint8Array;
  /** The RECEIVE_SPACE_SIGNAL counter. */
  private readonly receiveSpace: Int32Array;
  private readonly interrupt: InterruptLine;
  private readonly output: ByteSink;
  /** Reused one-byte buffer handed to the output sink. */
  private readonly outputByte = new Uint8Array(1);

  /** Writes the power-on register values into a fresh state buffer (once, before any instance uses it). */
  static powerOn(state: SharedArrayBuffer): void {
    powerOnUart(uartStateView(state));
  }

  constructor(state: SharedArrayBuffer, interrupt: InterruptLine, output: ByteSink) {
    this.state = uartStateView(state);
    this.receiveSpace = new Int32Array(state, UART_STATE.RECEIVE_SPACE_SIGNAL, 1);
    this.interrupt = interrupt;
    this.output = output;
  }

  read(offset: number, data: Uint8Array): void {
    answerByte(data, this.readRegister(offset));
  }

  write(offset: number, data: Uint8Array): void {
    const value = writtenByte(data);
    let wasAsserted = this.interruptAsserted();
    switch (offset) {
      case UART_PORT.DATA:
        if (this.dlab()) {
          this.state[UART_STATE.DIVISOR_LOW] = value;
        } else {
          this.state[UART_STATE.THR_EMPTY_PENDING] = 0;
          wasAsserted = this.interruptAsserted();
          this.transmit(value);
          this.state[UART_STATE.THR_EMPTY_PENDING] = 1;
        }
        break;
      case UART_PORT.INTERRUPT_ENABLE:
        if (this.dlab()) this.state[UART_STATE.DIVISOR_HIGH] = value;
        else this.writeInterruptEnable(value);
        break;
      case UART_PORT.INTERRUPT_ID_FIFO_CONTROL:
        this.writeFifoControl(value);
        break;
      case UART_PORT.LINE_CONTROL:
        this.state[UART_STATE.LINE_CONTROL] = value;
        break;
      case UART_PORT.MODEM_CONTROL:
        this.writeModemControl(value);
        break;
      case UART_PORT.SCRATCH:
        this.state[UART_STATE.SCRATCH] = value;
        break;
      default:
        return; // LSR and MSR are read-only; other offsets decode nothing.
    }
    this.raiseIfNewlyAsserted(wasAsserted);
  }

  /**
   * Queues host input for the guest. Returns how many bytes fit in the receive FIFO (the caller keeps the rest and
   * may wait with waitForInputSpace). In loopback mode the receiver is disconnected from the line, as on hardware:
   * the bytes are consumed and dropped.
   */
  enqueueInput(bytes: Uint8Array): number {
    if (this.loopback()) return bytes.length;
    const wasAsserted = this.interruptAsserted();
    const accepted = Math.min(bytes.length, this.inputSpace());
    for (let i = 0; i < accepted; i++) pushReceived(this.state, bytes[i]!);
    this.raiseIfNewlyAsserted(wasAsserted);
    return accepted;
  }

  /** Free bytes in the receive FIFO. Safe to call without the lock (the answer may be stale). */
  inputSpace(): number {
    return RECEIVE_FIFO_BYTES - receiveCount(this.state);
  }

  /**
   * Resolves once the receive FIFO has room, waking when any thread's instance frees space (guest reads, FIFO
   * clears, restores). Does not need the lock; usable on the main thread (it never blocks).
   */
  async waitForInputSpace(): Promise<void> {
    for (;;) {
      const seen = Atomics.load(this.receiveSpace, 0);
      if (this.inputSpace() > 0) return;
      const wait = waitAsync(this.receiveSpace, 0, seen);
      if (wait.async) await wait.value;
    }
  }

  save(): UartSnapshot {
    return saveUart(this.state);
  }

  /** Restores a snapshot; if it holds an asserted interrupt, the line is triggered again so none is lost. */
  restore(data: unknown): void {
    restoreUart(this.state, data);
    this.signalInputSpace();
    if (this.interruptAsserted()) this.interrupt.trigger();
  }

  private readRegister(offset: number): number {
    switch (offset) {
      case UART_PORT.DATA:
        return this.dlab() ? this.state[UART_STATE.DIVISOR_LOW]! : this.receive();
      case UART_PORT.INTERRUPT_ENABLE:
        return this.state[this.dlab() ? UART_STATE.DIVISOR_HIGH : UART_STATE.INTERRUPT_ENABLE]!;
      case UART_PORT.INTERRUPT_ID_FIFO_CONTROL:
        return this.readInterruptIdentification();
      case UART_PORT.LINE_CONTROL:
        return this.state[UART_STATE.LINE_CONTROL]!;
      case UART_PORT.MODEM_CONTROL:
        return this.state[UART_STATE.MODEM_CONTROL]!;
      case UART_PORT.LINE_STATUS: {
        const status = this.lineStatus();
        this.state[UART_STATE.LINE_STATUS_ERRORS] = 0;
        return status;
      }
      case UART_PORT.MODEM_STATUS: {
        const status = this.modemLines() | this.state[UART_STATE.MODEM_STATUS_DELTAS]!;
        this.state[UART_STATE.MODEM_STATUS_DELTAS] = 0;
        return status;
      }
      case UART_PORT.SCRATCH:
        return this.state[UART_STATE.SCRATCH]!;
      default:
        return 0;
    }
  }

  private readInterruptIdentification(): number {
    const pending = this.pendingInterrupt();
    if (pending === IIR.THR_EMPTY) this.state[UART_STATE.THR_EMPTY_PENDING] = 0;
    return pending | (this.fifosEnabled() ? IIR.FIFOS_ENABLED : 0);
  }

  private writeInterruptEnable(value: number): void {
    const previous = this.state[UART_STATE.INTERRUPT_ENABLE]!;
    const enable = value & IER.IMPLEMENTED;
    this.state[UART_STATE.INTERRUPT_ENABLE] = enable;
    if ((enable & ~previous & IER.THR_EMPTY) !== 0) this.state[UART_STATE.THR_EMPTY_PENDING] = 1;
    else if ((enable & IER.THR_EMPTY) === 0) this.state[UART_STATE.THR_EMPTY_PENDING] = 0;
  }

  /** FCR: toggling FIFO enable clears both FIFOs; the other bits are only taken while FIFOs are enabled. */
  private writeFifoControl(value: number): void {
    const wasEnabled = this.fifosEnabled();
    const enable = (value & FCR.ENABLE_FIFOS) !== 0;
    if (enable !== wasEnabled || (enable && (value & FCR.CLEAR_RECEIVE_FIFO) !== 0)) {
      clearReceived(this.state);
      this.signalInputSpace();
    }
    this.state[UART_STATE.FIFO_CONTROL] = enable ? value & FCR.RETAINED : 0;
  }

  private writeModemControl(value: number): void {
    const linesBefore = this.modemLines();
    this.state[UART_STATE.MODEM_CONTROL] = value & MCR.IMPLEMENTED;
    const linesAfter = this.modemLines();
    const changed = linesBefore ^ linesAfter;
    let deltas = 0;
    if (changed & MSR.CTS) deltas |= MSR.DELTA_CTS;
    if (changed & MSR.DSR) deltas |= MSR.DELTA_DSR;
    if (linesBefore & ~linesAfter & MSR.RI) deltas |= MSR.TRAILING_EDGE_RI;
    if (changed & MSR.DCD) deltas |= MSR.DELTA_DCD;
    this.state[UART_STATE.MODEM_STATUS_DELTAS]! |= deltas;
  }

  private transmit(byte: number): void {
    if (!this.loopback()) {
      this.outputByte[0] = byte;
      this.output.write(this.outputByte);
    } else if (this.inputSpace() > 0) {
      pushReceived(this.state, byte);
    } else {
      this.state[UART_STATE.LINE_STATUS_ERRORS]! |= LSR.OVERRUN_ERROR;
    }
  }

  private receive(): number {
    if (receiveCount(this.state) === 0) return 0;
    const byte = popReceived(this.state);
    this.signalInputSpace();
    return byte;
  }

  private signalInputSpace(): void {
    Atomics.add(this.receiveSpace, 0, 1);
    Atomics.notify(this.receiveSpace, 0);
  }

  private lineStatus(): number {
    const dataReady = receiveCount(this.state) > 0 ? LSR.DATA_READY : 0;
    return dataReady | this.state[UART_STATE.LINE_STATUS_ERRORS]! | LSR.THR_EMPTY | LSR.TRANSMITTER_EMPTY;
  }

  /** The modem status lines (MSR bits 4-7). */
  private modemLines(): number {
    if (!this.loopback()) return CONNECTED_LINE_STATUS;
    const control = this.state[UART_STATE.MODEM_CONTROL]!;
    return (
      (control & MCR.RTS ? MSR.CTS : 0) |
      (control & MCR.DTR ? MSR.DSR : 0) |
      (control & MCR.OUT1 ? MSR.RI : 0) |
      (control & MCR.OUT2 ? MSR.DCD : 0)
    );
  }

  /** The highest-priority enabled pending interrupt as an IIR code. */
  private pendingInterrupt(): number {
    const enabled = this.state[UART_STATE.INTERRUPT_ENABLE]!;
    if (enabled & IER.LINE_STATUS && this.state[UART_STATE.LINE_STATUS_ERRORS] !== 0) return IIR.LINE_STATUS;
    if (enabled & IER.RECEIVED_DATA && receiveCount(this.state) > 0) return IIR.RECEIVED_DATA;
    if (enabled & IER.THR_EMPTY && this.state[UART_STATE.THR_EMPTY_PENDING] === 1) return IIR.THR_EMPTY;
    if (enabled & IER.MODEM_STATUS && this.state[UART_STATE.MODEM_STATUS_DELTAS] !== 0) return IIR.MODEM_STATUS;
    return IIR.NONE_PENDING;
  }

  /** The level of the IRQ output: an interrupt pending, gated by OUT2, and none in loopback mode. */
  private interruptAsserted(): boolean {
    const control = this.state[UART_STATE.MODEM_CONTROL]!;
    return (control & (MCR.OUT2 | MCR.LOOPBACK)) === MCR.OUT2 && this.pendingInterrupt() !== IIR.NONE_PENDING;
  }

  private raiseIfNewlyAsserted(wasAsserted: boolean): void {
    if (!wasAsserted && this.interruptAsserted()) this.interrupt.trigger();
  }

  private dlab(): boolean {
    return (this.state[UART_STATE.LINE_CONTROL]! & LCR.DLAB) !== 0;
  }

  private loopback(): boolean {
    return (this.state[UART_STATE.MODEM_CONTROL]! & MCR.LOOPBACK) !== 0;
  }

  private fifosEnabled(): boolean {
    return (this.state[UART_STATE.FIFO_CONTROL]! & FCR.ENABLE_FIFOS) !== 0;
  }
}
