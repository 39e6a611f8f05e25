/**
 * The 16550A UART's register map: port offsets from the base (0x3F8 for COM1) and the bit fields of each
 * register, as in the National Semiconductor PC16550D data sheet. Declared once here for the device and its
 * snapshot validation. Pure: no node:* imports.
 */

/** Port offsets. Offsets 0 and 1 are the divisor latch while LCR.DLAB is set. */
export const UART_PORT = {
  /** Read: receiver buffer (RBR). Write: transmitter holding register (THR). DLAB: divisor latch low (DLL). */
  DATA: 0,
  /** Interrupt enable (IER). DLAB: divisor latch high (DLM). */
  INTERRUPT_ENABLE: 1,
  /** Read: interrupt identification (IIR). Write: FIFO control (FCR). */
  INTERRUPT_ID_FIFO_CONTROL: 2,
  LINE_CONTROL: 3,
  MODEM_CONTROL: 4,
  LINE_STATUS: 5,
  MODEM_STATUS: 6,
  SCRATCH: 7,
} as const;

/** Number of ports the UART decodes. */
export const UART_PORT_COUNT = 8;

export const IER = {
  RECEIVED_DATA: 0x01,
  THR_EMPTY: 0x02,
  LINE_STATUS: 0x04,
  MODEM_STATUS: 0x08,
  /** Bits a 16550A implements; the rest read as 0 (Linux's XScale UUE probe relies on that). */
  IMPLEMENTED: 0x0f,
} as const;

/** Interrupt identification codes (bits 0-3) in priority order, and the FIFO status bits 6-7. */
export const IIR = {
  NONE_PENDING: 0x01,
  LINE_STATUS: 0x06,
  RECEIVED_DATA: 0x04,
  THR_EMPTY: 0x02,
  MODEM_STATUS: 0x00,
  /** Both bits set: FIFOs enabled (what identifies a 16550A; bit 5, the 16750's 64-byte FIFO, stays clear). */
  FIFOS_ENABLED: 0xc0,
} as const;

export const FCR = {
  ENABLE_FIFOS: 0x01,
  CLEAR_RECEIVE_FIFO: 0x02,
  CLEAR_TRANSMIT_FIFO: 0x04,
  /** Bits the UART remembers: FIFO enable, DMA mode select, receiver trigger level (bits 6-7). */
  RETAINED: 0xc9,
} as const;

export const LCR = {
  /** Divisor latch access bit. */
  DLAB: 0x80,
} as const;

export const MCR = {
  DTR: 0x01,
  RTS: 0x02,
  OUT1: 0x04,
  /** On PC-compatibles OUT2 gates the UART's interrupt output onto the IRQ line. */
  OUT2: 0x08,
  LOOPBACK: 0x10,
  IMPLEMENTED: 0x1f,
} as const;

export const LSR = {
  DATA_READY: 0x01,
  OVERRUN_ERROR: 0x02,
  PARITY_ERROR: 0x04,
  FRAMING_ERROR: 0x08,
  BREAK_INTERRUPT: 0x10,
  /** The error bits that raise the line-status interrupt and clear when LSR is read. */
  ERRORS: 0x1e,
  THR_EMPTY: 0x20,
  TRANSMITTER_EMPTY: 0x40,
} as const;

export const MSR = {
  DELTA_CTS: 0x01,
  DELTA_DSR: 0x02,
  TRAILING_EDGE_RI: 0x04,
  DELTA_DCD: 0x08,
  /** The change bits (0-3) that raise the modem-status interrupt and clear when MSR is read. */
  DELTAS: 0x0f,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
} as const;
