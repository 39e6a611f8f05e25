/** Tests for the zero page (struct boot_params) builder: exact offsets and values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildE820Map, E820_TYPE, type E820Entry } from '../arch/x86_64/e820.ts';
import { ramRegions } from '../arch/x86_64/layout.ts';
import { BOOT_PARAMS, buildBootParams, E820_TABLE_MAX_ENTRIES } from './boot-params.ts';
import { parseBzImage } from './bzimage.ts';
import { LoaderError } from './loader-error.ts';
import { buildBzImage, syntheticKernelBody } from '../../test/helpers/synthetic-kernels.ts';

const MiB = 1 << 20;
const header = parseBzImage(buildBzImage({ kernel: syntheticKernelBody(0x1000), loadflags: 0x81 }), 'bz').headerBytes;
const e820 = buildE820Map(ramRegions(512 * MiB));

function view(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

describe('buildBootParams', () => {
  it('copies the setup header and fills the loader fields', () => {
    const page = buildBootParams({ setupHeader: header, cmdlineAddress: 0x20000, initramfs: { address: 0x1f000000, size: 0x123456 }, e820, rsdpAddress: 0xa0000 });
    const v = view(page);
    assert.equal(page.length, 4096);
    assert.equal(v.getUint16(0x1fe, true), 0xaa55, 'boot_flag copied');
    assert.equal(v.getUint32(0x202, true), 0x53726448, 'HdrS copied');
    assert.equal(v.getUint16(0x206, true), 0x020f, 'version copied');
    assert.equal(v.getUint8(0x210), 0xff, 'type_of_loader');
    assert.equal(v.getUint8(0x211), 0x01, 'loadflags: LOADED_HIGH kept, CAN_USE_HEAP cleared');
    assert.equal(v.getUint32(0x228, true), 0x20000, 'cmd_line_ptr');
    assert.equal(v.getUint32(0x218, true), 0x1f000000, 'ramdisk_image');
    assert.equal(v.getUint32(0x21c, true), 0x123456, 'ramdisk_size');
    assert.equal(v.getUint32(0x0c0, true), 0, 'ext_ramdisk_image');
    assert.equal(v.getUint32(0x0c4, true), 0, 'ext_ramdisk_size');
    assert.equal(v.getUint32(0x0c8, true), 0, 'ext_cmd_line_ptr');
    assert.equal(v.getBigUint64(0x070, true), 0xa0000n, 'acpi_rsdp_addr');
    assert.equal(v.getUint8(0x1ef), 0, 'sentinel stays 0');
    assert.equal(v.getUint32(0x238, true), 2047, 'cmdline_size keeps the kernel value');
  });

  it('writes the e820 table as packed 20-byte entries', () => {
    const v = view(buildBootParams({ setupHeader: header, cmdlineAddress: 0x20000, e820 }));
    assert.equal(v.getUint8(0x1e8), 3);
    const read = (i: number): E820Entry => {
      const at = 0x2d0 + i * 20;
      return { addr: Number(v.getBigUint64(at, true)), size: Number(v.getBigUint64(at + 8, true)), type: v.getUint32(at + 16, true) as E820Entry['type'] };
    };
    assert.deepEqual([read(0), read(1), read(2)], [
      { addr: 0, size: 0xa0000, type: E820_TYPE.RAM },
      { addr: 0x100000, size: 511 * MiB, type: E820_TYPE.RAM },
      { addr: 0xe8000000, size: 256 * MiB, type: E820_TYPE.RESERVED },
    ]);
    assert.equal(v.getBigUint64(0x2d0 + 3 * 20, true), 0n, 'nothing after the last entry');
  });

  it('leaves ramdisk and RSDP fields 0 when absent', () => {
    const v = view(buildBootParams({ setupHeader: header, cmdlineAddress: 0x20000, e820 }));
    assert.equal(v.getUint32(0x218, true), 0);
    assert.equal(v.getUint32(0x21c, true), 0);
    assert.equal(v.getBigUint64(BOOT_PARAMS.ACPI_RSDP_ADDR, true), 0n);
  });

  it('splits addresses above 4 GiB into the ext_ fields', () => {
    const v = view(buildBootParams({ setupHeader: header, cmdlineAddress: 0x1_2345_6000, initramfs: { address: 0x2_0000_1000, size: 0x1000 }, e820 }));
    assert.equal(v.getUint32(0x228, true), 0x2345_6000);
    assert.equal(v.getUint32(0x0c8, true), 1);
    assert.equal(v.getUint32(0x218, true), 0x1000);
    assert.equal(v.getUint32(0x0c0, true), 2);
  });

  it('rejects an e820 map larger than the table and a malformed header', () => {
    const tooMany = Array.from({ length: E820_TABLE_MAX_ENTRIES + 1 }, (_, i) => ({ addr: i * 0x1000, size: 0x1000, type: E820_TYPE.RAM }));
    assert.throws(() => buildBootParams({ setupHeader: header, cmdlineAddress: 0x20000, e820: tooMany }), (e: unknown) => e instanceof LoaderError && e.code === 'BOOT_SETUP_INVALID' && /129 entries/.test(e.message));
    assert.throws(() => buildBootParams({ setupHeader: header.subarray(0, 16), cmdlineAddress: 0x20000, e820 }), (e: unknown) => e instanceof LoaderError && e.code === 'BOOT_SETUP_INVALID');
  });
});
