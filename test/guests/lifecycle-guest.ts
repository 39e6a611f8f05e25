/**
 * The console protocol of the `lifecycle` test guest (src/lifecycle/lifecycle.c), shared by the tests that run it
 * under QEMU (the reference) and under Nimbus: the lines it prints and its serial-echo exchange.
 */
import type { ConsoleSession } from '../helpers/console-session.ts';

/** Printed once per boot, first. */
export const BOOT_LINE = /^report\.guest=lifecycle$/gm;
/** "lifecycle.boot=<n>": n counts the boots whose RAM this boot still sees (1 on fresh RAM). */
export const BOOT_COUNT_LINE = /^lifecycle\.boot=(\d+)$/gm;
export const PANIC_LINE = /^PANIC .*$/m;
/** serial-echo: the UART interrupt is routed and enabled, input is welcome. */
export const SERIAL_READY_LINE = /^serial\.ready$/gm;
/** serial-echo: one complete echoed input line. */
export const ECHO_LINE = /^serial\.rx=[0-9a-f]*\n/gm;
/** serial-echo: how the guest routed ISA IRQ 4 (from the MADT) on the IOAPIC. */
export const ROUTE_LINE = /^ioapic\.route=irq=4 gsi=(\d+) ioapic=(0x[0-9a-f]+) pin=(\d+) level=([01]) active_low=([01])$/m;

/** The line printed just before a reset through `action` (acpi-reset, i8042-reset, cmos-reset). */
export function resetLine(action: string): RegExp {
  return new RegExp(`^lifecycle\\.reset=${action}$`, 'gm');
}

/** The byte strings the guest echoed, one per input line, in order. */
export function echoedLines(stdout: string): Buffer[] {
  return [...stdout.matchAll(/^serial\.rx=([0-9a-f]*)\n/gm)].map((m) => Buffer.from(m[1]!, 'hex'));
}

/** The boot counts the guest printed, in order. */
export function bootCounts(stdout: string): number[] {
  return [...stdout.matchAll(BOOT_COUNT_LINE)].map((m) => Number(m[1]));
}

/** Every byte value except the newline (the guest's line end) in a scrambled order, repeated up to `length`. */
export function scrambledBytes(length: number): Buffer {
  const values = Array.from({ length: 256 }, (_, i) => (i * 167 + 13) & 0xff).filter((b) => b !== 0x0a);
  return Buffer.from(Array.from({ length }, (_, i) => values[i % values.length]!));
}

/**
 * Runs the serial-echo exchange with a guest started with nimbus.test=serial-echo: waits for "serial.ready", types
 * "ping", then one write holding a 200-byte line of every byte value but the newline plus two short lines (more
 * than three times a 16550's 64-byte receive FIFO, so the VMM must hold input back until the guest drains the
 * FIFO), then an empty line, after which the guest powers off. Returns what was typed and what the guest echoed.
 */
export async function serialEchoExchange(session: ConsoleSession, timeoutMs: number): Promise<{ typed: Buffer[]; echoed: Buffer[] }> {
  await session.waitFor('stdout', SERIAL_READY_LINE, { timeoutMs });
  const ping = Buffer.from('ping');
  session.write(Buffer.concat([ping, Buffer.from('\n')]));
  await session.waitFor('stdout', ECHO_LINE, { timeoutMs });
  const burst = [scrambledBytes(200), Buffer.from('second'), Buffer.from([0x0d, 0x09, 0x00, 0xff, 0x1b])];
  session.write(Buffer.concat(burst.flatMap((line) => [line, Buffer.from('\n')])));
  await session.waitFor('stdout', ECHO_LINE, { times: 1 + burst.length, timeoutMs });
  session.write('\n');
  await session.waitFor('stdout', ECHO_LINE, { times: 2 + burst.length, timeoutMs });
  return { typed: [ping, ...burst, Buffer.alloc(0)], echoed: echoedLines(session.output('stdout')) };
}
