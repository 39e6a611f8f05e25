/** Tests of the virtio-pci common configuration: field values, feature windows, the status machine, queue setup rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VIRTIO_F } from '../device.ts';
import { CommonConfig, type DeviceStatusEvents } from './common-config.ts';
import { VirtioTransportError } from './transport-error.ts';
import { VIRTIO_MSI_NO_VECTOR, VIRTIO_PCI_COMMON_CFG as CFG, VIRTIO_STATUS as S, type CommonConfigField } from './virtio-pci-layout.ts';

const OFFERED = VIRTIO_F.VERSION_1 | VIRTIO_F.RING_EVENT_IDX | 0x5n;

class RecordingEvents implements DeviceStatusEvents {
  readonly events: string[] = [];
  reset(): void {
    this.events.push('reset');
  }
  driverOk(): void {
    this.events.push('driverOk');
  }
}

function setup(): { common: CommonConfig; events: RecordingEvents } {
  const events = new RecordingEvents();
  const common = new CommonConfig({ queueMaxSizes: [256, 64], offeredFeatures: OFFERED, msixVectors: 3 }, events);
  return { common, events };
}

function get(common: CommonConfig, field: CommonConfigField): number {
  const { offset, width } = CFG[field];
  const data = new Uint8Array(width);
  common.read(offset, data);
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

function set(common: CommonConfig, field: CommonConfigField, value: number): void {
  const { offset, width } = CFG[field];
  common.write(offset, le(width, value));
}

function le(width: number, value: number): Uint8Array {
  return Uint8Array.from({ length: width }, (_, i) => Math.floor(value / 256 ** i) & 0xff);
}

/** Negotiates `features` the way a driver does and sets the status bits in order; returns the final status. */
function negotiate(common: CommonConfig, features: bigint): number {
  set(common, 'DEVICE_STATUS', S.ACKNOWLEDGE);
  set(common, 'DEVICE_STATUS', S.ACKNOWLEDGE | S.DRIVER);
  for (const word of [0, 1]) {
    set(common, 'DRIVER_FEATURE_SELECT', word);
    set(common, 'DRIVER_FEATURE', Number((features >> BigInt(32 * word)) & 0xffff_ffffn));
  }
  set(common, 'DEVICE_STATUS', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  return get(common, 'DEVICE_STATUS');
}

test('after reset: no status, every queue at its maximum size, unmapped vectors, notify_off = queue index', () => {
  const { common } = setup();
  assert.equal(get(common, 'NUM_QUEUES'), 2);
  assert.equal(get(common, 'DEVICE_STATUS'), 0);
  assert.equal(get(common, 'MSIX_CONFIG'), VIRTIO_MSI_NO_VECTOR);
  const perQueue = [0, 1].map((index) => {
    set(common, 'QUEUE_SELECT', index);
    return [get(common, 'QUEUE_SIZE'), get(common, 'QUEUE_MSIX_VECTOR'), get(common, 'QUEUE_ENABLE'), get(common, 'QUEUE_NOTIFY_OFF')];
  });
  assert.deepEqual(perQueue, [
    [256, VIRTIO_MSI_NO_VECTOR, 0, 0],
    [64, VIRTIO_MSI_NO_VECTOR, 0, 1],
  ]);
  set(common, 'QUEUE_SELECT', 2);
  assert.deepEqual(
    [get(common, 'QUEUE_SIZE'), get(common, 'QUEUE_MSIX_VECTOR'), get(common, 'QUEUE_ENABLE'), get(common, 'QUEUE_NOTIFY_OFF')],
    [0, VIRTIO_MSI_NO_VECTOR, 0, 0],
    'a queue the device does not have reads size 0',
  );
});

test('the device feature window shows 32 bits per select and 0 past the feature words', () => {
  const { common } = setup();
  const window = (select: number): number => {
    set(common, 'DEVICE_FEATURE_SELECT', select);
    return get(common, 'DEVICE_FEATURE');
  };
  assert.deepEqual([window(0), window(1), window(2), window(0xffff_ffff)], [0x2000_0005, 0x1, 0, 0]);
  assert.equal(get(common, 'DEVICE_FEATURE_SELECT'), 0xffff_ffff);
  set(common, 'DEVICE_FEATURE', 0x1234);
  assert.equal(window(0), 0x2000_0005, 'device_feature is read-only');
});

test('driver features read back per select; selects past the feature words drop writes', () => {
  const { common } = setup();
  set(common, 'DRIVER_FEATURE_SELECT', 1);
  set(common, 'DRIVER_FEATURE', 0x1);
  set(common, 'DRIVER_FEATURE_SELECT', 0);
  set(common, 'DRIVER_FEATURE', 0xdead_beef);
  set(common, 'DRIVER_FEATURE_SELECT', 7);
  set(common, 'DRIVER_FEATURE', 0xffff_ffff);
  assert.equal(get(common, 'DRIVER_FEATURE'), 0);
  set(common, 'DRIVER_FEATURE_SELECT', 0);
  assert.equal(get(common, 'DRIVER_FEATURE'), 0xdead_beef);
  assert.equal(common.features, 0x1_dead_beefn);
});

test('FEATURES_OK is accepted for offered features with VERSION_1 and freezes them', () => {
  const { common } = setup();
  const accepted = VIRTIO_F.VERSION_1 | 0x1n;
  assert.equal(negotiate(common, accepted), S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  set(common, 'DRIVER_FEATURE_SELECT', 0);
  set(common, 'DRIVER_FEATURE', 0x5);
  assert.equal(common.features, accepted, 'driver features are read-only after FEATURES_OK');
});

test('FEATURES_OK stays clear for features the device did not offer, or without VERSION_1', () => {
  for (const features of [VIRTIO_F.VERSION_1 | 0x2n, 0x1n, VIRTIO_F.VERSION_1 | VIRTIO_F.RING_PACKED]) {
    const { common, events } = setup();
    assert.equal(negotiate(common, features), S.ACKNOWLEDGE | S.DRIVER, `features 0x${features.toString(16)}`);
    set(common, 'DEVICE_STATUS', S.ACKNOWLEDGE | S.DRIVER | S.DRIVER_OK);
    assert.equal(get(common, 'DEVICE_STATUS'), S.ACKNOWLEDGE | S.DRIVER, 'DRIVER_OK needs FEATURES_OK');
    assert.deepEqual(events.events, []);
  }
});

test('DRIVER_OK is reported once; the driver cannot clear bits, set DEVICE_NEEDS_RESET or reach DRIVER_OK after FAILED', () => {
  const { common, events } = setup();
  negotiate(common, VIRTIO_F.VERSION_1);
  const ready = S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK;
  set(common, 'DEVICE_STATUS', ready | S.DEVICE_NEEDS_RESET | 0x30);
  assert.equal(get(common, 'DEVICE_STATUS'), ready, 'NEEDS_RESET and the reserved bits are not the driver\'s');
  set(common, 'DEVICE_STATUS', ready);
  set(common, 'DEVICE_STATUS', S.ACKNOWLEDGE);
  assert.equal(get(common, 'DEVICE_STATUS'), ready, 'a write that clears bits is ignored');
  assert.deepEqual(events.events, ['driverOk']);

  const failed = setup();
  negotiate(failed.common, VIRTIO_F.VERSION_1);
  set(failed.common, 'DEVICE_STATUS', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.FAILED);
  set(failed.common, 'DEVICE_STATUS', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.FAILED | S.DRIVER_OK);
  assert.equal(get(failed.common, 'DEVICE_STATUS'), S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.FAILED);
  assert.deepEqual(failed.events.events, []);
});

test('DEVICE_NEEDS_RESET is set once by the device and blocks DRIVER_OK', () => {
  const { common, events } = setup();
  negotiate(common, VIRTIO_F.VERSION_1);
  assert.equal(common.setNeedsReset(), true);
  assert.equal(common.setNeedsReset(), false);
  set(common, 'DEVICE_STATUS', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  assert.equal(get(common, 'DEVICE_STATUS'), S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DEVICE_NEEDS_RESET);
  assert.deepEqual(events.events, []);
});

test('queue_size takes powers of two up to the maximum; other values are ignored', () => {
  const { common } = setup();
  set(common, 'QUEUE_SELECT', 1);
  const sizes = [32, 0, 48, 128, 1, 0xffff].map((size) => {
    set(common, 'QUEUE_SIZE', size);
    return get(common, 'QUEUE_SIZE');
  });
  assert.deepEqual(sizes, [32, 32, 32, 32, 1, 1]);
});

test('a queue cannot be set up again once enabled, nor any queue after DRIVER_OK; enable ignores 0', () => {
  const { common } = setup();
  set(common, 'QUEUE_SELECT', 0);
  set(common, 'QUEUE_SIZE', 16);
  set(common, 'QUEUE_DESC_LO', 0x1000);
  set(common, 'QUEUE_ENABLE', 2);
  assert.equal(get(common, 'QUEUE_ENABLE'), 0, 'only 1 enables');
  set(common, 'QUEUE_ENABLE', 1);
  set(common, 'QUEUE_ENABLE', 0);
  set(common, 'QUEUE_SIZE', 8);
  set(common, 'QUEUE_DESC_LO', 0x2000);
  assert.deepEqual([get(common, 'QUEUE_ENABLE'), get(common, 'QUEUE_SIZE'), get(common, 'QUEUE_DESC_LO')], [1, 16, 0x1000]);

  negotiate(common, VIRTIO_F.VERSION_1);
  set(common, 'DEVICE_STATUS', S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  set(common, 'QUEUE_SELECT', 1);
  set(common, 'QUEUE_SIZE', 8);
  set(common, 'QUEUE_DEVICE_LO', 0x3000);
  set(common, 'QUEUE_ENABLE', 1);
  assert.deepEqual([get(common, 'QUEUE_SIZE'), get(common, 'QUEUE_DEVICE_LO'), get(common, 'QUEUE_ENABLE')], [64, 0, 0]);
  set(common, 'QUEUE_MSIX_VECTOR', 2);
  assert.equal(get(common, 'QUEUE_MSIX_VECTOR'), 2, 'vectors can still be assigned');
});

test('vectors outside the MSI-X table read back as NO_VECTOR', () => {
  const { common } = setup();
  set(common, 'MSIX_CONFIG', 2);
  assert.equal(get(common, 'MSIX_CONFIG'), 2);
  set(common, 'MSIX_CONFIG', 3);
  assert.equal(get(common, 'MSIX_CONFIG'), VIRTIO_MSI_NO_VECTOR);
  set(common, 'QUEUE_SELECT', 1);
  set(common, 'QUEUE_MSIX_VECTOR', 1);
  assert.deepEqual([common.queueVector(1), common.configVector], [1, VIRTIO_MSI_NO_VECTOR]);
  set(common, 'QUEUE_MSIX_VECTOR', 0x8000);
  assert.equal(common.queueVector(1), VIRTIO_MSI_NO_VECTOR);
  assert.equal(common.queueVector(5), VIRTIO_MSI_NO_VECTOR);
});

test('64-bit queue addresses: two dwords low first, one qword, or bytes all land', () => {
  const { common } = setup();
  set(common, 'QUEUE_SELECT', 1);
  set(common, 'QUEUE_DESC_LO', 0x8765_4000);
  set(common, 'QUEUE_DESC_HI', 0x1);
  common.write(CFG.QUEUE_DRIVER_LO.offset, le(8, 0x2_0000_1000));
  le(8, 0x3_0000_2000).forEach((byte, i) => common.write(CFG.QUEUE_DEVICE_LO.offset + i, Uint8Array.of(byte)));
  assert.deepEqual(common.queueLayout(1), { size: 64, descTable: 0x1_8765_4000, availRing: 0x2_0000_1000, usedRing: 0x3_0000_2000 });
  const qword = new Uint8Array(8);
  common.read(CFG.QUEUE_DESC_LO.offset, qword);
  assert.deepEqual([...qword], [0x00, 0x40, 0x65, 0x87, 0x01, 0, 0, 0]);
});

test('a wide access covers every field it spans; bytes past the structure read 0', () => {
  const { common } = setup();
  set(common, 'MSIX_CONFIG', 1);
  const data = new Uint8Array(8);
  common.read(CFG.MSIX_CONFIG.offset, data);
  assert.deepEqual([...data], [1, 0, 2, 0, 0, 0, 0, 0], 'msix_config, num_queues, device_status, config_generation, queue_select');
  common.write(CFG.QUEUE_SELECT.offset, Uint8Array.of(1, 0, 16, 0));
  assert.deepEqual([get(common, 'QUEUE_SELECT'), get(common, 'QUEUE_SIZE')], [1, 16]);
  const tail = new Uint8Array(16).fill(0xaa);
  common.read(0x34, tail);
  assert.deepEqual([...tail], new Array(16).fill(0));
});

test('no access width or offset throws', () => {
  const { common } = setup();
  for (let offset = -3; offset < 0x40; offset++) {
    for (const width of [0, 1, 2, 3, 4, 5, 8, 16]) {
      common.read(offset, new Uint8Array(width));
      common.write(offset, new Uint8Array(width).fill(offset & 0xff));
    }
  }
  common.read(1.5, new Uint8Array(4));
  common.write(Number.NaN, new Uint8Array(4));
});

test('writing 0 resets every register but config_generation and reports it', () => {
  const { common, events } = setup();
  negotiate(common, VIRTIO_F.VERSION_1);
  common.bumpGeneration();
  set(common, 'MSIX_CONFIG', 0);
  set(common, 'QUEUE_SELECT', 1);
  set(common, 'QUEUE_SIZE', 8);
  set(common, 'QUEUE_MSIX_VECTOR', 1);
  set(common, 'QUEUE_ENABLE', 1);
  set(common, 'DEVICE_STATUS', 0);
  assert.deepEqual(events.events, ['reset']);
  assert.deepEqual(
    [get(common, 'DEVICE_STATUS'), get(common, 'CONFIG_GENERATION'), get(common, 'MSIX_CONFIG'), get(common, 'QUEUE_SELECT')],
    [0, 1, VIRTIO_MSI_NO_VECTOR, 0],
  );
  assert.equal(common.features, 0n);
  assert.deepEqual([common.queueLayout(1).size, common.queueVector(1), common.queueEnabled(1)], [64, VIRTIO_MSI_NO_VECTOR, false]);
});

test('config_generation wraps at 256', () => {
  const { common } = setup();
  for (let i = 0; i < 257; i++) common.bumpGeneration();
  assert.equal(get(common, 'CONFIG_GENERATION'), 1);
});

test('save and restore carry every register', () => {
  const { common } = setup();
  negotiate(common, VIRTIO_F.VERSION_1 | VIRTIO_F.RING_EVENT_IDX);
  set(common, 'QUEUE_SELECT', 1);
  set(common, 'QUEUE_SIZE', 32);
  set(common, 'QUEUE_DESC_HI', 0xffff_ffff);
  set(common, 'QUEUE_MSIX_VECTOR', 2);
  set(common, 'QUEUE_ENABLE', 1);
  set(common, 'DEVICE_FEATURE_SELECT', 1);
  common.bumpGeneration();
  const saved = JSON.parse(JSON.stringify(common.save())) as unknown;
  const copy = setup();
  copy.common.restore(saved);
  assert.deepEqual(copy.common.save(), common.save());
  assert.equal(copy.common.features, VIRTIO_F.VERSION_1 | VIRTIO_F.RING_EVENT_IDX);
  assert.equal(get(copy.common, 'DEVICE_FEATURE'), 1);
  assert.deepEqual(copy.events.events, [], 'restoring is not a status write');
});

test('restore refuses malformed snapshots with BAD_SNAPSHOT and keeps the registers', () => {
  const { common } = setup();
  const good = common.save();
  const bad: unknown[] = [
    null,
    [],
    { ...good, status: 256 },
    { ...good, driverFeatures: [0, 0] },
    { ...good, driverFeatures: [0, 0, 0, -1] },
    { ...good, queues: good.queues.slice(1) },
    { ...good, queues: [{ ...good.queues[0]!, size: 512 }, good.queues[1]] },
    { ...good, queues: [{ ...good.queues[0]!, size: 24 }, good.queues[1]] },
    { ...good, queues: [{ ...good.queues[0]!, enabled: 1 }, good.queues[1]] },
    { ...good, queues: [{ ...good.queues[0]!, descHi: 2 ** 32 }, good.queues[1]] },
  ];
  set(common, 'MSIX_CONFIG', 1);
  for (const snapshot of bad) {
    assert.throws(() => common.restore(snapshot), (error: unknown) => error instanceof VirtioTransportError && error.code === 'BAD_SNAPSHOT');
  }
  assert.equal(get(common, 'MSIX_CONFIG'), 1);
});
