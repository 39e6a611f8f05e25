/** Unit tests of the 16550A UART: Linux's probe, output, input and interrupts, DLAB, IIR priorities, snapshots. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { CountingInterruptLine } from '../../../test/helpers/fakes.ts';
import { CollectingSink, inb, outb, portRead } from '../../../test/helpers/device-fakes.ts';
import { DeviceError } from '../device-error.ts';
import { Uart16550 } from './uart-16550.ts';
import { UART_PORT as P } from './uart-registers.ts';

function setup(buffer = new SharedArrayBuffer(Uart16550.STATE_BYTES), powerOn = true) {
  if (powerOn) Uart16550.powerOn(buffer);
  const irq = new CountingInterruptLine();
  const sink = new CollectingSink();
  const uart = new Uart16550(buffer, irq, sink);
  return { buffer, irq, sink, uart };
}

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

function drain(uart: Uart16550): string {
  let text = '';
  while (inb(uart, P.LINE_STATUS) & 0x01) text += String.fromCharCode(inb(uart, P.DATA));
  return text;
}

test('power-on registers: 8N1 at 9600 baud, OUT2 set, THR and transmitter empty, line ready', () => {
  const { uart } = setup();
  assert.equal(inb(uart, P.LINE_CONTROL), 0x03);
  assert.equal(inb(uart, P.MODEM_CONTROL), 0x08);
  assert.equal(inb(uart, P.LINE_STATUS), 0x60);
  assert.equal(inb(uart, P.MODEM_STATUS), 0xb0);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x01);
  assert.equal(inb(uart, P.INTERRUPT_ENABLE), 0x00);
  outb(uart, P.LINE_CONTROL, 0x83);
  assert.deepEqual([inb(uart, P.DATA), inb(uart, P.INTERRUPT_ENABLE)], [12, 0]);
});

test("Linux 8250 autoconfig identifies a 16550A", () => {
  const { uart, sink, irq } = setup();
  // IER scratch test.
  outb(uart, P.INTERRUPT_ENABLE, 0);
  assert.equal(inb(uart, P.INTERRUPT_ENABLE) & 0x0f, 0);
  outb(uart, P.INTERRUPT_ENABLE, 0x0f);
  assert.equal(inb(uart, P.INTERRUPT_ENABLE) & 0x0f, 0x0f);
  outb(uart, P.INTERRUPT_ENABLE, 0);
  // Loopback test: MCR = LOOP | OUT2 | RTS must show DCD | CTS.
  const savedMcr = inb(uart, P.MODEM_CONTROL);
  outb(uart, P.MODEM_CONTROL, 0x1a);
  assert.equal(inb(uart, P.MODEM_STATUS) & 0xf0, 0x90);
  outb(uart, P.MODEM_CONTROL, savedMcr);
  // EFR probe (LCR 0xBF), then FIFO detection through IIR bits 6-7.
  outb(uart, P.LINE_CONTROL, 0xbf);
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0);
  outb(uart, P.LINE_CONTROL, 0);
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0x01);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL) >> 6, 3, 'IIR FIFO bits say 16550A');
  // autoconfig_16550a: no EFR under LCR 0x80 or 0xBF (reads IIR, non-zero), no 16750 64-byte FIFO, no UUE bit.
  outb(uart, P.LINE_CONTROL, 0x80);
  assert.notEqual(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0);
  outb(uart, P.LINE_CONTROL, 0xbf);
  assert.notEqual(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0);
  outb(uart, P.LINE_CONTROL, 0);
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0x21);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL) & 0xe0, 0xc0);
  outb(uart, P.LINE_CONTROL, 0x80);
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0x21);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL) & 0xe0, 0xc0);
  outb(uart, P.LINE_CONTROL, 0);
  outb(uart, P.INTERRUPT_ENABLE, 0x40);
  assert.equal(inb(uart, P.INTERRUPT_ENABLE), 0);
  // 8250 scratch register test.
  outb(uart, P.SCRATCH, 0xa5);
  assert.equal(inb(uart, P.SCRATCH), 0xa5);
  outb(uart, P.SCRATCH, 0x5a);
  assert.equal(inb(uart, P.SCRATCH), 0x5a);
  assert.equal(sink.bytes.length, 0);
  assert.equal(irq.count, 1, 'only the IER test (THR-empty enabled with OUT2 set at power-on) raised the line');
});

test('output of a string goes to the sink byte by byte, without interrupts while IER is 0', () => {
  const { uart, sink, irq } = setup();
  for (const byte of bytes('Hello, Nimbus!\r\n')) outb(uart, P.DATA, byte);
  assert.equal(sink.text(), 'Hello, Nimbus!\r\n');
  assert.equal(inb(uart, P.LINE_STATUS), 0x60);
  assert.equal(irq.count, 0);
});

test('THR-empty interrupt: raised when IER enables it and after each byte the guest writes', () => {
  const { uart, irq } = setup();
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0x07);
  outb(uart, P.INTERRUPT_ENABLE, 0x02);
  assert.equal(irq.count, 1);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0xc2);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0xc1, 'reading IIR acknowledged THR empty');
  outb(uart, P.DATA, 0x41);
  assert.equal(irq.count, 2);
  outb(uart, P.DATA, 0x42);
  assert.equal(irq.count, 3, 'a write while THR-empty is pending re-asserts it');
  // Linux's UART_BUG_THRE test: toggling IER.THRI re-arms the interrupt each time.
  outb(uart, P.INTERRUPT_ENABLE, 0);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0xc1);
  outb(uart, P.INTERRUPT_ENABLE, 0x02);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL) & 0x0f, 0x02);
  outb(uart, P.INTERRUPT_ENABLE, 0);
  outb(uart, P.INTERRUPT_ENABLE, 0x02);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL) & 0x0f, 0x02);
  assert.equal(irq.count, 5);
  // Rewriting IER with THRI already set does not re-arm it.
  outb(uart, P.INTERRUPT_ENABLE, 0x02);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL) & 0x0f, 0x01);
});

test('input raises the received-data interrupt once per rising edge and is read back in order', () => {
  const { uart, irq } = setup();
  outb(uart, P.INTERRUPT_ENABLE, 0x01);
  assert.equal(irq.count, 0);
  assert.equal(uart.enqueueInput(bytes('abc')), 3);
  assert.equal(irq.count, 1);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x04);
  assert.equal(inb(uart, P.LINE_STATUS), 0x61);
  assert.equal(uart.enqueueInput(bytes('d')), 1);
  assert.equal(irq.count, 1, 'still asserted: no new edge');
  assert.equal(drain(uart), 'abcd');
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x01);
  assert.equal(inb(uart, P.DATA), 0, 'RBR reads 0 when empty');
  uart.enqueueInput(bytes('e'));
  assert.equal(irq.count, 2);
});

test('the receive FIFO is bounded at 64 bytes and wraps around', () => {
  const { uart } = setup();
  const input = Uint8Array.from({ length: 100 }, (_, i) => i);
  assert.equal(uart.enqueueInput(input), 64);
  assert.equal(uart.inputSpace(), 0);
  assert.equal(uart.enqueueInput(input.subarray(64)), 0);
  assert.equal(inb(uart, P.DATA), 0);
  assert.equal(uart.enqueueInput(input.subarray(64)), 1);
  const received = [];
  while (inb(uart, P.LINE_STATUS) & 0x01) received.push(inb(uart, P.DATA));
  assert.deepEqual(received, [...input.subarray(1, 65)]);
  assert.equal(inb(uart, P.LINE_STATUS) & 0x02, 0, 'host input never overruns');
});

test('waitForInputSpace resolves only once the guest frees FIFO space', async () => {
  const { uart } = setup();
  uart.enqueueInput(new Uint8Array(64));
  let resolved = false;
  const waiting = uart.waitForInputSpace().then(() => (resolved = true));
  await nextMacrotask();
  assert.equal(resolved, false);
  inb(uart, P.DATA);
  await waiting;
  assert.equal(uart.inputSpace(), 1);
  await uart.waitForInputSpace(); // resolves at once when there is room
});

test('FCR: FIFO enable is reported in IIR, clearing and toggling FIFOs empties the receive FIFO', () => {
  const { uart } = setup();
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0xc1);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0xc1);
  uart.enqueueInput(bytes('xy'));
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0xc3);
  assert.equal(inb(uart, P.LINE_STATUS) & 0x01, 0);
  uart.enqueueInput(bytes('z'));
  outb(uart, P.INTERRUPT_ID_FIFO_CONTROL, 0x00);
  assert.equal(inb(uart, P.LINE_STATUS) & 0x01, 0);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x01);
  assert.equal(uart.save().fifoControl, 0);
});

test('loopback: transmitted bytes are received, overflow sets overrun, the IRQ output is gated off', () => {
  const { uart, sink, irq } = setup();
  outb(uart, P.INTERRUPT_ENABLE, 0x05);
  outb(uart, P.MODEM_CONTROL, 0x18);
  for (let i = 0; i < 65; i++) outb(uart, P.DATA, 0x30 + (i % 10));
  assert.equal(sink.bytes.length, 0);
  assert.equal(irq.count, 0, 'no interrupt reaches the line in loopback');
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x06, 'overrun is a line-status interrupt');
  assert.equal(inb(uart, P.LINE_STATUS), 0x63);
  assert.equal(inb(uart, P.LINE_STATUS), 0x61, 'reading LSR cleared the overrun');
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x04);
  assert.equal(uart.enqueueInput(bytes('host')), 4, 'line input is dropped in loopback');
  assert.equal(drain(uart), '0123456789'.repeat(7).slice(0, 64));
  outb(uart, P.MODEM_CONTROL, 0x08);
  assert.equal(irq.count, 0);
  outb(uart, P.DATA, 0x21);
  assert.equal(sink.text(), '!');
});

test('IIR reports pending interrupts in priority order and each clears by its own action', () => {
  const { uart, irq } = setup();
  outb(uart, P.MODEM_CONTROL, 0x18);
  for (let i = 0; i < 65; i++) outb(uart, P.DATA, 0x61); // fills the FIFO and overruns
  outb(uart, P.MODEM_CONTROL, 0x1f); // loopback lines follow DTR, RTS, OUT1, OUT2
  outb(uart, P.MODEM_CONTROL, 0x13); // RI falls (trailing edge), DCD falls
  outb(uart, P.MODEM_CONTROL, 0x08); // leave loopback: the host line is ready again
  outb(uart, P.INTERRUPT_ENABLE, 0x0f);
  assert.equal(irq.count, 1);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x06);
  inb(uart, P.LINE_STATUS);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x04);
  assert.equal(drain(uart).length, 64);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x02);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x00, 'modem status after THR empty was acknowledged');
  assert.equal(inb(uart, P.MODEM_STATUS), 0xbf, 'lines ready, deltas for CTS, DSR, DCD and the RI trailing edge');
  assert.equal(inb(uart, P.MODEM_STATUS), 0xb0);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x01);
  assert.equal(irq.count, 1);
});

test('MCR.OUT2 gates the interrupt: pending interrupts reach the line when OUT2 is set', () => {
  const { uart, irq } = setup();
  outb(uart, P.MODEM_CONTROL, 0x03);
  outb(uart, P.INTERRUPT_ENABLE, 0x01);
  uart.enqueueInput(bytes('q'));
  assert.equal(irq.count, 0);
  assert.equal(inb(uart, P.INTERRUPT_ID_FIFO_CONTROL), 0x04);
  outb(uart, P.MODEM_CONTROL, 0x0b);
  assert.equal(irq.count, 1);
});

test('DLAB: offsets 0 and 1 are the divisor latch, without output or IER changes', () => {
  const { uart, sink } = setup();
  outb(uart, P.INTERRUPT_ENABLE, 0x05);
  outb(uart, P.LINE_CONTROL, 0x80);
  outb(uart, P.DATA, 0x01);
  outb(uart, P.INTERRUPT_ENABLE, 0x02);
  assert.deepEqual([inb(uart, P.DATA), inb(uart, P.INTERRUPT_ENABLE)], [0x01, 0x02]);
  outb(uart, P.LINE_CONTROL, 0x03);
  assert.equal(inb(uart, P.INTERRUPT_ENABLE), 0x05);
  assert.equal(sink.bytes.length, 0);
  assert.equal(uart.save().divisorLatch, 0x0201);
});

test('two instances over one state share every register, the FIFO and the input signal', async () => {
  const a = setup();
  const b = setup(a.buffer, false);
  outb(a.uart, P.SCRATCH, 0x5c);
  assert.equal(inb(b.uart, P.SCRATCH), 0x5c);
  outb(b.uart, P.INTERRUPT_ENABLE, 0x01);
  assert.equal(inb(a.uart, P.INTERRUPT_ENABLE), 0x01);
  b.uart.enqueueInput(new Uint8Array(64).fill(0x37));
  assert.equal(b.irq.count, 1, 'the instance that made the change raises the line');
  assert.equal(a.uart.inputSpace(), 0);
  const waiting = b.uart.waitForInputSpace();
  assert.equal(inb(a.uart, P.DATA), 0x37);
  await waiting;
  outb(a.uart, P.DATA, 0x7a);
  assert.equal(a.sink.text(), 'z');
  assert.equal(b.sink.bytes.length, 0);
  assert.deepEqual(a.uart.save(), b.uart.save());
});

test('odd widths and offsets: low byte only, extra bytes read 0, unknown offsets and read-only registers ignored', () => {
  const { uart, sink } = setup();
  uart.write(P.DATA, Uint8Array.of(0x48, 0x49));
  uart.write(P.DATA, Uint8Array.of(0x0a, 1, 2, 3));
  assert.equal(sink.text(), 'H\n');
  assert.deepEqual(portRead(uart, P.LINE_STATUS, 4), [0x60, 0, 0, 0]);
  assert.deepEqual(portRead(uart, P.LINE_CONTROL, 8), [0x03, 0, 0, 0, 0, 0, 0, 0]);
  uart.write(P.LINE_STATUS, Uint8Array.of(0xff));
  uart.write(P.MODEM_STATUS, Uint8Array.of(0xff));
  uart.write(9, Uint8Array.of(0xff));
  uart.write(P.SCRATCH, new Uint8Array(0));
  assert.deepEqual(portRead(uart, 9, 2), [0, 0]);
  assert.equal(inb(uart, P.LINE_STATUS), 0x60);
  assert.equal(inb(uart, P.MODEM_STATUS), 0xb0);
  assert.equal(inb(uart, P.SCRATCH), 0);
  assert.deepEqual(portRead(uart, P.SCRATCH, 0), []);
});

test('save/restore round-trips the registers and a wrapped-around receive FIFO', () => {
  const source = setup();
  outb(source.uart, P.INTERRUPT_ID_FIFO_CONTROL, 0x81);
  outb(source.uart, P.SCRATCH, 0x99);
  outb(source.uart, P.LINE_CONTROL, 0x1b);
  source.uart.enqueueInput(new Uint8Array(60));
  for (let i = 0; i < 60; i++) inb(source.uart, P.DATA);
  source.uart.enqueueInput(bytes('wrapped around the ring'));
  outb(source.uart, P.INTERRUPT_ENABLE, 0x03);
  const snapshot = source.uart.save();
  assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot, 'plain JSON');
  assert.deepEqual(snapshot, {
    version: 1,
    divisorLatch: 12,
    interruptEnable: 0x03,
    lineControl: 0x1b,
    modemControl: 0x08,
    lineStatusErrors: 0,
    modemStatusDeltas: 0,
    scratch: 0x99,
    fifoControl: 0x81,
    thrEmptyInterruptPending: true,
    receiveFifo: [...bytes('wrapped around the ring')],
  });

  const target = setup(new SharedArrayBuffer(Uart16550.STATE_BYTES), false);
  target.uart.restore(snapshot);
  assert.equal(target.irq.count, 1, 'a pending interrupt is re-raised after restore');
  assert.deepEqual(target.uart.save(), snapshot);
  assert.equal(inb(target.uart, P.INTERRUPT_ID_FIFO_CONTROL), 0xc4);
  assert.equal(drain(target.uart), 'wrapped around the ring');
  assert.equal(inb(target.uart, P.INTERRUPT_ID_FIFO_CONTROL), 0xc2);
});

test('restore rejects malformed snapshots with BAD_SNAPSHOT and leaves the state untouched', () => {
  const { uart } = setup();
  uart.enqueueInput(bytes('keep'));
  const good = uart.save();
  const bad: unknown[] = [
    null,
    [],
    'serial',
    { ...good, version: 2 },
    { ...good, divisorLatch: 0x10000 },
    { ...good, interruptEnable: 0x10 },
    { ...good, modemControl: 0x20 },
    { ...good, lineStatusErrors: 0x01 },
    { ...good, fifoControl: 0x02 },
    { ...good, scratch: 1.5 },
    { ...good, thrEmptyInterruptPending: 1 },
    { ...good, receiveFifo: new Array(65).fill(0) },
    { ...good, receiveFifo: [1, 256] },
    { ...good, receiveFifo: 'abc' },
    { version: 1 },
  ];
  for (const data of bad) {
    assert.throws(
      () => uart.restore(data),
      (error: unknown) => error instanceof DeviceError && error.code === 'BAD_SNAPSHOT' && /serial snapshot/.test(error.message),
      JSON.stringify(data),
    );
  }
  assert.deepEqual(uart.save(), good);
});

test('the state buffer must be a large enough SharedArrayBuffer', () => {
  const irq = new CountingInterruptLine();
  const sink = new CollectingSink();
  for (const buffer of [new SharedArrayBuffer(Uart16550.STATE_BYTES - 1), new ArrayBuffer(Uart16550.STATE_BYTES)]) {
    assert.throws(
      () => new Uart16550(buffer as SharedArrayBuffer, irq, sink),
      (error: unknown) => error instanceof DeviceError && error.code === 'BAD_STATE_BUFFER',
    );
  }
});
