/**
 * Resource descriptor tests: byte sequences from iasl 20200925 compiling the ASL quoted beside each case, and the
 * End Tag checksum rule (descriptors + End Tag sum to zero).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  dwordMemory,
  extendedInterrupt,
  fixedIoPort,
  ioPort,
  irqNoFlags,
  memory32Fixed,
  qwordMemory,
  resourceTemplate,
  wordBusNumber,
  wordIo,
} from './aml-resources.ts';
import { AcpiError } from './acpi-error.ts';

/** Bytes from a string of hex pairs. */
function bytes(spec: string): Uint8Array {
  return Uint8Array.from(spec.split(/\s+/).filter(Boolean), (pair) => Number.parseInt(pair, 16));
}

function assertInvalid(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof AcpiError && error.code === 'INVALID_RESOURCE');
}

describe('resource descriptors', () => {
  it('encodes small descriptors', () => {
    // IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
    assert.deepEqual(ioPort(0x3f8, 0x3f8, 1, 8), bytes('47 01 F8 03 F8 03 01 08'));
    // FixedIO (0x0060, 0x01)
    assert.deepEqual(fixedIoPort(0x60, 1), bytes('4B 60 00 01'));
    // IRQNoFlags () {4} and {3, 4, 15}
    assert.deepEqual(irqNoFlags([4]), bytes('22 10 00'));
    assert.deepEqual(irqNoFlags([3, 4, 15]), bytes('22 18 80'));
  });

  it('encodes Memory32Fixed and extended Interrupt', () => {
    // Memory32Fixed (ReadWrite, 0xE8000000, 0x00100000)
    assert.deepEqual(memory32Fixed(true, 0xe800_0000, 0x10_0000), bytes('86 09 00 01 00 00 00 E8 00 00 10 00'));
    assert.deepEqual(memory32Fixed(false, 0xfec0_0000, 0x20), bytes('86 09 00 00 00 00 C0 FE 20 00 00 00'));
    // Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5, 6}
    const edgeConsumer = { consumer: true, edgeTriggered: true, activeLow: false, shared: false, wakeCapable: false };
    assert.deepEqual(extendedInterrupt(edgeConsumer, [5, 6]), bytes('89 0A 00 03 02 05 00 00 00 06 00 00 00'));
    // Interrupt (ResourceConsumer, Level, ActiveLow, Shared, , , ) {24}
    const levelShared = { consumer: true, edgeTriggered: false, activeLow: true, shared: true, wakeCapable: false };
    assert.deepEqual(extendedInterrupt(levelShared, [24]), bytes('89 06 00 0D 01 18 00 00 00'));
  });

  it('encodes the host-bridge address space descriptors', () => {
    // WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, 0x0000, 0x0000, 0x0000, 0x0001)
    assert.deepEqual(wordBusNumber(0, 0), bytes('88 0D 00 02 0C 00 00 00 00 00 00 00 00 00 01 00'));
    // WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300)
    assert.deepEqual(wordIo(0xd00, 0xffff), bytes('88 0D 00 01 0C 03 00 00 00 0D FF FF 00 00 00 F3'));
    // DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
    //              0x00000000, 0xC0000000, 0xE7FFFFFF, 0x00000000, 0x28000000)
    assert.deepEqual(
      dwordMemory('NonCacheable', true, 0xc000_0000, 0xe7ff_ffff),
      bytes('87 17 00 00 0C 01 00 00 00 00 00 00 00 C0 FF FF FF E7 00 00 00 00 00 00 00 28'),
    );
    // QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
    //              0x0, 0x100000000, 0x1FFFFFFFF, 0x0, 0x100000000)
    assert.deepEqual(
      qwordMemory('NonCacheable', true, 2 ** 32, 2 ** 33 - 1),
      bytes(
        '8A 2B 00 00 0C 01 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 FF FF FF FF 01 00 00 00 ' +
          '00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00',
      ),
    );
    // Prefetchable, ReadOnly: type-specific flags (3 << 1) | 0.
    assert.equal(qwordMemory('Prefetchable', false, 0, 0xfff)[5], 0x06);
  });

  it('rejects values that do not fit their fields', () => {
    assertInvalid(() => ioPort(0x10000, 0x10000, 1, 8));
    assertInvalid(() => ioPort(0x3f8, 0x3f0, 1, 8));
    assertInvalid(() => ioPort(0x3f8, 0x3f8, 1, 256));
    assertInvalid(() => fixedIoPort(0x400, 1));
    assertInvalid(() => irqNoFlags([16]));
    assertInvalid(() => extendedInterrupt({ consumer: true, edgeTriggered: true, activeLow: false, shared: false, wakeCapable: false }, []));
    assertInvalid(() => memory32Fixed(true, 2 ** 32, 1));
    assertInvalid(() => wordBusNumber(0, 0x10000));
    assertInvalid(() => dwordMemory('NonCacheable', true, 0, 0xffff_ffff));
    assertInvalid(() => qwordMemory('NonCacheable', true, 2, 1));
  });
});

describe('resourceTemplate', () => {
  it('wraps descriptors in a Buffer ending with an End Tag whose checksum zeroes the sum', () => {
    // Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08) IRQNoFlags () {4} })
    // iasl writes 79 00 (checksum not computed); we write the real checksum.
    const template = resourceTemplate([ioPort(0x3f8, 0x3f8, 1, 8), irqNoFlags([4])]);
    assert.deepEqual(template.subarray(0, template.length - 1), bytes('11 10 0A 0D 47 01 F8 03 F8 03 01 08 22 10 00 79'));
    const descriptors = template.subarray(4);
    assert.equal(descriptors.reduce((sum, b) => sum + b, 0) % 256, 0);
    assert.equal(template[template.length - 1], 0x0e);
  });

  it('holds only the End Tag when empty', () => {
    assert.deepEqual(resourceTemplate([]), bytes('11 05 0A 02 79 87'));
  });
});
