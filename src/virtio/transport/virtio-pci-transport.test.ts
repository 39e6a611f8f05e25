/**
 * Tests of the virtio-pci transport, driven the way Linux's virtio_pci_modern driver drives a device: capabilities
 * found through configuration space, structures reached at BAR0 through the MMIO bus, features negotiated, MSI-X
 * programmed, queues laid out by a mock virtqueue driver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../bus/bus.ts';
import { GuestMemory } from '../../memory/guest-memory.ts';
import { PCI_COMMAND, PCI_CONFIG } from '../../pci/config-registers.ts';
import type { BarRelocation } from '../../pci/config-space.ts';
import type { MsiMessage, MsiRouter } from '../../pci/msix.ts';
import { VIRTIO_DEVICE_TYPE, VIRTIO_F, type VirtioActivation, type VirtioDevice } from '../device.ts';
import { VirtqDriver } from '../../../test/helpers/virtq-driver.ts';
import { RecordingLogger } from '../../../test/helpers/device-fakes.ts';
import { VirtioTransportError } from './transport-error.ts';
import { VirtioPciTransport, type VirtioPciHooks } from './virtio-pci-transport.ts';
import {
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_BAR,
  VIRTIO_PCI_CAP,
  VIRTIO_PCI_CAP_TYPE,
  VIRTIO_PCI_COMMON_CFG,
  VIRTIO_STATUS as S,
  type CommonConfigField,
} from './virtio-pci-layout.ts';

const BAR_ADDRESS = 0x1_0000_0000;
const DEVICE_FEATURE_BIT = 1n << 5n;
const READY = S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK;
/** Vectors the driver assigns: configuration changes, then one per queue. */
const CONFIG_VECTOR = 0;
const QUEUE_VECTORS = [1, 2];

class FakeDevice implements VirtioDevice {
  readonly deviceType: number;
  readonly queueMaxSizes: readonly number[] = [256, 64, 16];
  readonly availableFeatures = VIRTIO_F.RING_EVENT_IDX | VIRTIO_F.RING_INDIRECT_DESC | DEVICE_FEATURE_BIT;
  readonly configSize: number;
  readonly configBytes: Uint8Array;
  readonly activations: VirtioActivation[] = [];
  readonly configAccesses: string[] = [];
  resets = 0;
  refuse: Error | undefined;

  constructor(options: { type?: number; configSize?: number } = {}) {
    this.deviceType = options.type ?? VIRTIO_DEVICE_TYPE.BLOCK;
    this.configSize = options.configSize ?? 8;
    this.configBytes = Uint8Array.from({ length: this.configSize }, (_, i) => 0x10 + i);
  }

  get context(): VirtioActivation {
    const context = this.activations.at(-1);
    assert.ok(context, 'the device was activated');
    return context;
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.configAccesses.push(`read ${offset}+${data.length}`);
    data.set(this.configBytes.subarray(offset, offset + data.length));
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.configAccesses.push(`write ${offset}+${data.length}`);
    this.configBytes.set(data, offset);
  }

  activate(context: VirtioActivation): void {
    if (this.refuse) throw this.refuse;
    this.activations.push(context);
  }

  reset(): void {
    this.resets++;
  }

  readonly notified: number[] = [];

  queueNotified(index: number): void {
    this.notified.push(index);
  }
}

class RecordingRouter implements MsiRouter {
  readonly events: string[] = [];

  route(vector: number, message: MsiMessage, masked: boolean): void {
    this.events.push(`route ${vector} 0x${message.data.toString(16)} ${masked ? 'masked' : 'unmasked'}`);
  }

  inject(vector: number): void {
    this.events.push(`inject ${vector}`);
  }

  take(): string[] {
    return this.events.splice(0);
  }
}

class RecordingHooks implements VirtioPciHooks {
  readonly moves: { move: BarRelocation; notifyAddresses: readonly number[] }[] = [];
  readonly notified: number[] = [];
  accept = true;

  barMoved(move: BarRelocation, notifyAddresses: readonly number[]): boolean {
    this.moves.push({ move, notifyAddresses });
    return this.accept;
  }

  queueNotified(index: number): void {
    this.notified.push(index);
  }
}

interface CapabilityInfo {
  readonly at: number;
  readonly offset: number;
  readonly length: number;
}

/** A virtio structure a driver maps, as an MMIO address range. */
type Structure = 'common' | 'isr' | 'device' | 'notify';

/** What Linux's virtio_pci_modern does, over configuration space and the MMIO bus. */
class ModernDriver {
  readonly caps = new Map<number, CapabilityInfo>();
  msixCap = 0;
  notifyMultiplier = 0;
  barBase = 0;
  private readonly transport: VirtioPciTransport;
  private readonly mmio: Bus;

  constructor(transport: VirtioPciTransport) {
    this.transport = transport;
    this.mmio = new Bus('mmio');
    this.mmio.insert(transport.barAddress, VIRTIO_PCI_BAR.SIZE, 'virtio-pci BAR0', transport);
  }

  cfgRead(offset: number, width: number): number {
    const data = new Uint8Array(width);
    this.transport.readConfig(offset, data);
    return fromLe(data);
  }

  cfgWrite(offset: number, width: number, value: number): void {
    this.transport.writeConfig(offset, le(width, value));
  }

  /** Enables decoding, reads BAR0 and walks the capability list (vp_modern_probe). */
  probe(): void {
    this.cfgWrite(PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
    this.barBase = (this.cfgRead(PCI_CONFIG.BAR0, 4) & ~0xf) + this.cfgRead(PCI_CONFIG.BAR0 + 4, 4) * 2 ** 32;
    for (let at = this.cfgRead(PCI_CONFIG.CAPABILITIES_POINTER, 1); at !== 0; at = this.cfgRead(at + 1, 1)) {
      const id = this.cfgRead(at, 1);
      if (id === 0x11) this.msixCap = at;
      if (id !== 0x09) continue;
      const type = this.cfgRead(at + VIRTIO_PCI_CAP.CFG_TYPE, 1);
      assert.equal(this.cfgRead(at + VIRTIO_PCI_CAP.BAR, 1), 0);
      const offset = this.cfgRead(at + VIRTIO_PCI_CAP.OFFSET, 4);
      this.caps.set(type, { at, offset, length: this.cfgRead(at + VIRTIO_PCI_CAP.LENGTH, 4) });
      if (type === VIRTIO_PCI_CAP_TYPE.NOTIFY_CFG) this.notifyMultiplier = this.cfgRead(at + VIRTIO_PCI_CAP.NOTIFY_OFF_MULTIPLIER, 4);
    }
  }

  address(structure: Structure, offset: number): number {
    const type = {
      common: VIRTIO_PCI_CAP_TYPE.COMMON_CFG,
      isr: VIRTIO_PCI_CAP_TYPE.ISR_CFG,
      device: VIRTIO_PCI_CAP_TYPE.DEVICE_CFG,
      notify: VIRTIO_PCI_CAP_TYPE.NOTIFY_CFG,
    }[structure];
    const cap = this.caps.get(type);
    assert.ok(cap, `the ${structure} capability was found`);
    return this.barBase + cap.offset + offset;
  }

  read(structure: Structure, offset: number, width: number): number {
    const data = new Uint8Array(width).fill(0xaa);
    this.mmio.read(this.address(structure, offset), data);
    return fromLe(data);
  }

  write(structure: Structure, offset: number, width: number, value: number): void {
    this.mmio.write(this.address(structure, offset), le(width, value));
  }

  get(field: CommonConfigField): number {
    const { offset, width } = VIRTIO_PCI_COMMON_CFG[field];
    return this.read('common', offset, width);
  }

  set(field: CommonConfigField, value: number): void {
    const { offset, width } = VIRTIO_PCI_COMMON_CFG[field];
    this.write('common', offset, width, value);
  }

  addStatus(bits: number): number {
    this.set('DEVICE_STATUS', this.get('DEVICE_STATUS') | bits);
    return this.get('DEVICE_STATUS');
  }

  /** Writes 0 and waits for the device status to read 0 (vp_reset). */
  reset(): void {
    this.set('DEVICE_STATUS', 0);
    assert.equal(this.get('DEVICE_STATUS'), 0);
  }

  /** Reads both device feature words, writes `wanted & offered` and sets FEATURES_OK; returns the status. */
  negotiate(wanted: bigint): number {
    let offered = 0n;
    for (const word of [1, 0]) {
      this.set('DEVICE_FEATURE_SELECT', word);
      offered = (offered << 32n) | BigInt(this.get('DEVICE_FEATURE'));
    }
    const features = wanted & offered;
    for (const word of [0, 1]) {
      this.set('DRIVER_FEATURE_SELECT', word);
      this.set('DRIVER_FEATURE', Number((features >> BigInt(32 * word)) & 0xffff_ffffn));
    }
    return this.addStatus(S.FEATURES_OK);
  }

  /** Enables MSI-X and programs and unmasks `vectors` entries (data = 0x30 + vector). */
  enableMsix(vectors: number): void {
    this.cfgWrite(this.msixCap + 2, 2, 0x8000);
    for (let vector = 0; vector < vectors; vector++) this.programVector(vector, false);
  }

  programVector(vector: number, masked: boolean): void {
    const entry = this.barBase + VIRTIO_PCI_BAR.MSIX_TABLE + 16 * vector;
    this.mmio.write(entry, le(4, 0xfee0_0000));
    this.mmio.write(entry + 4, le(4, 0));
    this.mmio.write(entry + 8, le(4, 0x30 + vector));
    this.mmio.write(entry + 12, le(4, masked ? 1 : 0));
  }

  pba(): number {
    const data = new Uint8Array(8);
    this.mmio.read(this.barBase + VIRTIO_PCI_BAR.MSIX_PBA, data);
    return fromLe(data);
  }

  /** Sets up one queue (setup_vq): size, addresses as two dwords each, vector; returns its notify address. */
  setupQueue(index: number, queue: VirtqDriver, vector: number): number {
    this.set('QUEUE_SELECT', index);
    assert.ok(this.get('QUEUE_SIZE') >= queue.size);
    this.set('QUEUE_SIZE', queue.size);
    const addresses: [CommonConfigField, number][] = [
      ['QUEUE_DESC_LO', queue.descTable],
      ['QUEUE_DRIVER_LO', queue.availRing],
      ['QUEUE_DEVICE_LO', queue.usedRing],
    ];
    for (const [field, address] of addresses) {
      this.write('common', VIRTIO_PCI_COMMON_CFG[field].offset, 4, address % 2 ** 32);
      this.write('common', VIRTIO_PCI_COMMON_CFG[field].offset + 4, 4, Math.floor(address / 2 ** 32));
    }
    this.set('QUEUE_MSIX_VECTOR', vector);
    assert.equal(this.get('QUEUE_MSIX_VECTOR'), vector, 'the vector mapping held');
    return this.address('notify', this.get('QUEUE_NOTIFY_OFF') * this.notifyMultiplier);
  }

  enableQueue(index: number): void {
    this.set('QUEUE_SELECT', index);
    this.set('QUEUE_ENABLE', 1);
  }

  kick(notifyAddress: number, index: number): void {
    this.mmio.write(notifyAddress, le(2, index));
  }
}

interface Fixture {
  memory: GuestMemory;
  device: FakeDevice;
  router: RecordingRouter;
  hooks: RecordingHooks;
  logger: RecordingLogger;
  transport: VirtioPciTransport;
  driver: ModernDriver;
  queues: VirtqDriver[];
}

function fixture(device = new FakeDevice(), memory = GuestMemory.anonymous([{ guestBase: 0, size: 0x4_0000 }])): Fixture {
  const router = new RecordingRouter();
  const hooks = new RecordingHooks();
  const logger = new RecordingLogger('warn');
  const transport = new VirtioPciTransport({ device, memory, barAddress: BAR_ADDRESS, msiRouter: router, hooks, logger, id: '_disk0' });
  const driver = new ModernDriver(transport);
  driver.probe();
  const queues = [
    new VirtqDriver(memory, { size: 16, queueBase: 0x1000, dataBase: 0x8000, dataSize: 0x8000, eventIdx: true }),
    new VirtqDriver(memory, { size: 8, queueBase: 0x2_0000, dataBase: 0x2_8000, dataSize: 0x8000, eventIdx: true }),
  ];
  return { memory, device, router, hooks, logger, transport, driver, queues };
}

/** The whole driver initialization, up to DRIVER_OK; returns the queues' notify addresses. */
function initialize(f: Fixture, wanted = VIRTIO_F.VERSION_1 | VIRTIO_F.RING_EVENT_IDX | VIRTIO_F.RING_INDIRECT_DESC): number[] {
  const { driver } = f;
  driver.reset();
  driver.addStatus(S.ACKNOWLEDGE);
  driver.addStatus(S.DRIVER);
  assert.equal(driver.negotiate(wanted) & S.FEATURES_OK, S.FEATURES_OK, 'the device accepted the features');
  driver.enableMsix(1 + QUEUE_VECTORS.length);
  driver.set('MSIX_CONFIG', CONFIG_VECTOR);
  assert.equal(driver.get('MSIX_CONFIG'), CONFIG_VECTOR);
  const notify = f.queues.map((queue, index) => driver.setupQueue(index, queue, QUEUE_VECTORS[index]!));
  f.queues.forEach((_, index) => driver.enableQueue(index));
  driver.addStatus(S.DRIVER_OK);
  f.router.take();
  return notify;
}

function le(width: number, value: number): Uint8Array {
  return Uint8Array.from({ length: width }, (_, i) => Math.floor(value / 256 ** i) & 0xff);
}

function fromLe(data: Uint8Array): number {
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

const transportError = (code: string) => (error: unknown) => error instanceof VirtioTransportError && error.code === code;

test('identity: vendor 0x1AF4, device 0x1040 + type, revision 1, class by type, subsystem as Cloud Hypervisor', () => {
  const { driver } = fixture();
  assert.equal(driver.cfgRead(PCI_CONFIG.VENDOR_ID, 4), 0x1042_1af4);
  assert.equal(driver.cfgRead(PCI_CONFIG.REVISION_ID, 4), 0x0180_0001);
  assert.equal(driver.cfgRead(PCI_CONFIG.SUBSYSTEM_VENDOR_ID, 4), 0x1042_1af4);
  assert.equal(driver.cfgRead(PCI_CONFIG.INTERRUPT_PIN, 1), 0);
  const classOf = (type: number): number => fixture(new FakeDevice({ type })).driver.cfgRead(PCI_CONFIG.REVISION_ID, 4) >>> 8;
  assert.deepEqual([classOf(VIRTIO_DEVICE_TYPE.NET), classOf(VIRTIO_DEVICE_TYPE.RNG)], [0x02_00_00, 0xff_ff_00]);
});

test('BAR0 is a 64-bit, non-prefetchable, 512 KiB memory BAR at the VMM\'s address', () => {
  const { driver, transport } = fixture();
  assert.equal(driver.barBase, BAR_ADDRESS);
  assert.equal(transport.barAddress, BAR_ADDRESS);
  driver.cfgWrite(PCI_CONFIG.COMMAND, 2, 0);
  driver.cfgWrite(PCI_CONFIG.BAR0, 4, 0xffff_ffff);
  driver.cfgWrite(PCI_CONFIG.BAR0 + 4, 4, 0xffff_ffff);
  assert.deepEqual([driver.cfgRead(PCI_CONFIG.BAR0, 4), driver.cfgRead(PCI_CONFIG.BAR0 + 4, 4)], [0xfff8_0004, 0xffff_ffff]);
});

test('capabilities: common, ISR, device, notify (multiplier 4), PCI_CFG, then MSI-X with queues + 1 vectors', () => {
  const { driver } = fixture();
  const found = [...driver.caps.entries()].map(([type, cap]) => [type, cap.at, cap.offset, cap.length]);
  assert.deepEqual(found, [
    [VIRTIO_PCI_CAP_TYPE.COMMON_CFG, 0x40, 0x0000, 0x38],
    [VIRTIO_PCI_CAP_TYPE.ISR_CFG, 0x50, 0x2000, 1],
    [VIRTIO_PCI_CAP_TYPE.DEVICE_CFG, 0x60, 0x4000, 8],
    [VIRTIO_PCI_CAP_TYPE.NOTIFY_CFG, 0x70, 0x6000, 0x1000],
    [VIRTIO_PCI_CAP_TYPE.PCI_CFG, 0x84, 0, 0],
  ]);
  assert.deepEqual([0x40, 0x50, 0x60].map((at) => driver.cfgRead(at + VIRTIO_PCI_CAP.CAP_LEN, 1)), [16, 16, 16]);
  assert.deepEqual([0x70, 0x84].map((at) => driver.cfgRead(at + VIRTIO_PCI_CAP.CAP_LEN, 1)), [20, 20]);
  assert.equal(driver.notifyMultiplier, 4);
  assert.equal(driver.msixCap, 0x98);
  assert.deepEqual([0, 4, 8].map((at) => driver.cfgRead(driver.msixCap + at, 4)), [0x0003_0011, 0x8000, 0x4_8000]);
});

test('a device without configuration space has no DEVICE_CFG capability', () => {
  const { driver } = fixture(new FakeDevice({ configSize: 0 }));
  assert.equal(driver.caps.has(VIRTIO_PCI_CAP_TYPE.DEVICE_CFG), false);
  assert.equal(driver.caps.get(VIRTIO_PCI_CAP_TYPE.NOTIFY_CFG)?.at, 0x60);
});

test('the driver init sequence activates the device with each enabled queue configured as negotiated', () => {
  const f = fixture();
  initialize(f);
  assert.equal(f.driver.get('DEVICE_STATUS'), READY);
  assert.equal(f.device.activations.length, 1);
  const { context } = f.device;
  assert.equal(context.features, VIRTIO_F.VERSION_1 | VIRTIO_F.RING_EVENT_IDX | VIRTIO_F.RING_INDIRECT_DESC);
  assert.equal(context.memory, f.memory);
  assert.equal(context.queues.length, 3);
  f.queues.forEach((queue, index) => {
    assert.equal(context.queues[index]!.ready, true);
    assert.deepEqual(context.queues[index]!.config, queue.queueConfig(true));
  });
  assert.equal(context.queues[2]!.ready, false, 'the queue the driver left alone is not enabled');
  assert.equal(context.queues[2]!.maxSize, 16);
});

test('without EVENT_IDX and INDIRECT_DESC negotiated the queues use neither', () => {
  const f = fixture();
  initialize(f, VIRTIO_F.VERSION_1 | DEVICE_FEATURE_BIT);
  assert.equal(f.device.context.features, VIRTIO_F.VERSION_1 | DEVICE_FEATURE_BIT);
  const config = f.device.context.queues[0]!.config;
  assert.deepEqual([config.eventIdx, config.indirectDescriptors], [false, false]);
});

test('a request goes round: kick at the notify address, used entry, interrupt on the queue\'s vector', () => {
  const f = fixture();
  const notify = initialize(f);
  assert.deepEqual(f.transport.notifyAddresses(), [BAR_ADDRESS + 0x6000, BAR_ADDRESS + 0x6004, BAR_ADDRESS + 0x6008]);
  assert.deepEqual(notify, f.transport.notifyAddresses().slice(0, 2), 'the driver found the same addresses');
  const added = f.queues[1]!.addChain({ readable: [Uint8Array.of(1, 2, 3)], writable: [4] });
  assert.equal(f.queues[1]!.publish(), true);
  f.driver.kick(notify[1]!, 1);
  assert.deepEqual(f.hooks.notified, [1]);

  const queue = f.device.context.queues[1]!;
  const popped = queue.pop();
  assert.equal(popped?.kind, 'chain');
  queue.addUsed(added.head, 4);
  assert.equal(queue.needsNotification(), true);
  f.device.context.interrupts.queue(1);
  assert.deepEqual(f.router.take(), ['inject 2']);
  assert.deepEqual(f.queues[1]!.takeUsed(), [{ id: added.head, len: 4 }]);
});

test('feature negotiation: unoffered features or no VERSION_1 leave FEATURES_OK clear and DRIVER_OK does nothing', () => {
  for (const wanted of [DEVICE_FEATURE_BIT, VIRTIO_F.VERSION_1 | (1n << 40n)]) {
    const f = fixture();
    f.driver.reset();
    f.driver.addStatus(S.ACKNOWLEDGE | S.DRIVER);
    f.driver.set('DRIVER_FEATURE_SELECT', 1);
    f.driver.set('DRIVER_FEATURE', Number(wanted >> 32n));
    f.driver.set('DRIVER_FEATURE_SELECT', 0);
    f.driver.set('DRIVER_FEATURE', Number(wanted & 0xffff_ffffn));
    assert.equal(f.driver.addStatus(S.FEATURES_OK), S.ACKNOWLEDGE | S.DRIVER, `0x${wanted.toString(16)} refused`);
    assert.equal(f.driver.addStatus(S.DRIVER_OK), S.ACKNOWLEDGE | S.DRIVER);
    assert.equal(f.device.activations.length, 0);
  }
});

test('reset: the device is reset, queues disabled, vectors unmapped, the old activation silenced; init works again', () => {
  const f = fixture();
  initialize(f);
  const old = f.device.context;
  f.driver.reset();
  assert.equal(f.device.resets, 1);
  assert.equal(old.queues[0]!.ready, false);
  assert.deepEqual([f.driver.get('MSIX_CONFIG'), f.driver.get('QUEUE_MSIX_VECTOR')], [VIRTIO_MSI_NO_VECTOR, VIRTIO_MSI_NO_VECTOR]);
  assert.equal(f.driver.get('QUEUE_SIZE'), 256, 'queue 0 is back to its maximum size');
  old.interrupts.queue(0);
  old.interrupts.config();
  old.needsReset('late completion');
  assert.deepEqual(f.router.take(), []);
  assert.equal(f.driver.read('isr', 0, 1), 0);
  assert.equal(f.driver.get('DEVICE_STATUS'), 0);

  f.driver.reset();
  assert.equal(f.device.resets, 1, 'resetting an inactive device does not reset it again');
  initialize(f);
  assert.equal(f.device.activations.length, 2);
  f.device.context.interrupts.queue(0);
  assert.deepEqual(f.router.take(), ['inject 1']);
});

test('DEVICE_NEEDS_RESET: status bit and a configuration interrupt after DRIVER_OK, only the bit before', () => {
  const f = fixture();
  initialize(f);
  f.device.context.needsReset('queue 0 is broken');
  f.device.context.needsReset('again');
  assert.equal(f.driver.get('DEVICE_STATUS'), READY | S.DEVICE_NEEDS_RESET);
  assert.deepEqual(f.router.take(), [`inject ${CONFIG_VECTOR}`]);
  assert.equal(f.driver.read('isr', 0, 1), 0x2);
  assert.deepEqual(f.logger.lines, [{ level: 'warn', message: '_disk0: queue 0 is broken; the device needs a reset' }]);

  const early = fixture();
  early.driver.addStatus(S.ACKNOWLEDGE);
  early.transport.needsReset('backend lost');
  assert.equal(early.driver.get('DEVICE_STATUS'), S.ACKNOWLEDGE | S.DEVICE_NEEDS_RESET);
  assert.equal(early.driver.read('isr', 0, 1), 0);
});

test('a queue the device cannot use at DRIVER_OK sets DEVICE_NEEDS_RESET instead of activating', () => {
  const f = fixture();
  f.driver.reset();
  f.driver.addStatus(S.ACKNOWLEDGE | S.DRIVER);
  f.driver.negotiate(VIRTIO_F.VERSION_1);
  f.driver.enableMsix(3);
  f.driver.set('MSIX_CONFIG', CONFIG_VECTOR);
  f.driver.setupQueue(0, f.queues[0]!, 1);
  f.driver.set('QUEUE_DEVICE_HI', 0x10);
  f.driver.enableQueue(0);
  f.router.take();
  f.driver.addStatus(S.DRIVER_OK);
  assert.equal(f.device.activations.length, 0);
  assert.equal(f.driver.get('DEVICE_STATUS'), READY | S.DEVICE_NEEDS_RESET);
  assert.deepEqual(f.router.take(), [`inject ${CONFIG_VECTOR}`]);
  const usedRing = (0x10_0000_0000 + f.queues[0]!.usedRing).toString(16);
  assert.ok(f.logger.lines[0]?.message.startsWith(`_disk0: queue 0 cannot be used: virtqueue used ring 0x${usedRing}+`));
});

test('a device that refuses activation gets DEVICE_NEEDS_RESET and its queues back disabled', () => {
  const device = new FakeDevice();
  device.refuse = new Error('backend file is gone');
  const f = fixture(device);
  initialize(f);
  assert.equal(f.driver.get('DEVICE_STATUS'), READY | S.DEVICE_NEEDS_RESET);
  assert.equal(f.logger.lines[0]?.message, '_disk0: activation failed: backend file is gone; the device needs a reset');
  f.driver.reset();
  assert.equal(device.resets, 0, 'a device that never activated is not reset');
});

test('device configuration: forwarded inside configSize, 0 beyond; a device change bumps config_generation', () => {
  const f = fixture();
  initialize(f);
  assert.equal(f.driver.read('device', 0, 4), 0x1312_1110);
  assert.equal(f.driver.read('device', 6, 4), 0x1716, 'the part past configSize reads 0');
  assert.equal(f.driver.read('device', 8, 4), 0);
  f.driver.write('device', 6, 4, 0xaabb_ccdd);
  f.driver.write('device', 0x100, 4, 0x1);
  assert.deepEqual(f.device.configAccesses, ['read 0+4', 'read 6+2', 'write 6+2']);
  assert.deepEqual([...f.device.configBytes.subarray(6)], [0xdd, 0xcc]);

  const generation = f.driver.get('CONFIG_GENERATION');
  f.transport.configChanged();
  assert.equal(f.driver.get('CONFIG_GENERATION'), generation + 1);
  assert.deepEqual(f.router.take(), [`inject ${CONFIG_VECTOR}`]);
  f.device.context.interrupts.config();
  assert.equal(f.driver.get('CONFIG_GENERATION'), generation + 2);
  assert.equal(f.driver.read('isr', 0, 1), 0x2);
});

test('notify: queue N at N * 4, other offsets and widths ignored; notify registers read 0', () => {
  const f = fixture();
  for (const offset of [0, 4, 8, 2, 12, 0x1ffc]) f.driver.write('notify', offset, 2, 0);
  f.driver.write('notify', 4, 4, 1);
  f.driver.write('notify', 0, 1, 0);
  assert.deepEqual(f.hooks.notified, [0, 1, 2, 1, 0]);
  assert.equal(f.driver.read('notify', 0, 4), 0);
});

test('moving BAR0 reports the new notify addresses; a refused move keeps BAR0 where it is', () => {
  const f = fixture();
  const moveTo = (address: number): void => {
    f.driver.cfgWrite(PCI_CONFIG.BAR0, 4, address % 2 ** 32);
    f.driver.cfgWrite(PCI_CONFIG.BAR0 + 4, 4, Math.floor(address / 2 ** 32));
  };
  moveTo(0x2_0008_0000);
  assert.equal(f.transport.barAddress, 0x2_0008_0000);
  assert.deepEqual(f.hooks.moves.map(({ move, notifyAddresses }) => [move.oldAddress, move.newAddress, notifyAddresses]), [
    [BAR_ADDRESS, 0x2_0008_0000, [0x2_0008_6000, 0x2_0008_6004, 0x2_0008_6008]],
  ]);
  assert.deepEqual(f.transport.notifyAddresses(), [0x2_0008_6000, 0x2_0008_6004, 0x2_0008_6008]);
  f.hooks.accept = false;
  moveTo(0x3_0000_0000);
  assert.equal(f.transport.barAddress, 0x2_0008_0000);
  assert.equal(f.driver.cfgRead(PCI_CONFIG.BAR0 + 4, 4), 2);
});

test('MSI-X: vectors beyond the table map to none; masked vectors go pending and fire on unmask; disabled drops', () => {
  const f = fixture();
  initialize(f);
  f.driver.set('QUEUE_SELECT', 0);
  f.driver.set('QUEUE_MSIX_VECTOR', 4);
  assert.equal(f.driver.get('QUEUE_MSIX_VECTOR'), VIRTIO_MSI_NO_VECTOR, 'the table has 4 vectors: 0-3');
  f.driver.set('QUEUE_MSIX_VECTOR', 3);
  f.driver.programVector(3, true);
  f.router.take();
  f.device.context.interrupts.queue(0);
  assert.deepEqual(f.router.take(), []);
  assert.equal(f.driver.pba(), 0b1000);
  f.driver.programVector(3, false);
  assert.deepEqual(f.router.take(), ['route 3 0x33 unmasked', 'inject 3']);
  assert.equal(f.driver.pba(), 0);

  f.driver.set('QUEUE_MSIX_VECTOR', VIRTIO_MSI_NO_VECTOR);
  f.device.context.interrupts.queue(0);
  assert.deepEqual(f.router.take(), [], 'a queue without a vector raises nothing');
  f.driver.cfgWrite(f.driver.msixCap + 2, 2, 0);
  f.device.context.interrupts.queue(1);
  assert.deepEqual(f.router.take().filter((event) => event.startsWith('inject')), []);
});

test('ISR: queue and config bits accumulate, a read returns and clears them, writes change nothing', () => {
  const f = fixture();
  initialize(f);
  f.device.context.interrupts.queue(0);
  f.driver.write('isr', 0, 1, 0);
  f.transport.configChanged();
  assert.equal(f.driver.read('isr', 1, 1), 0, 'only the ISR byte itself clears');
  assert.equal(f.driver.read('isr', 0, 4), 0x3);
  assert.equal(f.driver.read('isr', 0, 1), 0);
});

test('PCI_CFG window: cap.bar/offset/length select a BAR0 access that pci_cfg_data reads or writes', () => {
  const f = fixture();
  const cap = f.driver.caps.get(VIRTIO_PCI_CAP_TYPE.PCI_CFG)!.at;
  const window = (bar: number, offset: number, length: number): void => {
    f.driver.cfgWrite(cap + VIRTIO_PCI_CAP.BAR, 1, bar);
    f.driver.cfgWrite(cap + VIRTIO_PCI_CAP.OFFSET, 4, offset);
    f.driver.cfgWrite(cap + VIRTIO_PCI_CAP.LENGTH, 4, length);
  };
  const data = (): number => f.driver.cfgRead(cap + VIRTIO_PCI_CAP.PCI_CFG_DATA, 4);
  window(0, VIRTIO_PCI_COMMON_CFG.NUM_QUEUES.offset, 2);
  assert.equal(data() & 0xffff, 3);
  window(0, VIRTIO_PCI_COMMON_CFG.DEVICE_STATUS.offset, 1);
  f.driver.cfgWrite(cap + VIRTIO_PCI_CAP.PCI_CFG_DATA, 4, S.ACKNOWLEDGE);
  assert.equal(f.driver.get('DEVICE_STATUS'), S.ACKNOWLEDGE);
  window(0, VIRTIO_PCI_BAR.DEVICE_CONFIG, 4);
  assert.equal(data(), 0x1312_1110);

  f.device.configAccesses.length = 0;
  const invalidWindows = [
    [1, VIRTIO_PCI_BAR.DEVICE_CONFIG, 4],
    [0, VIRTIO_PCI_BAR.DEVICE_CONFIG, 3],
    [0, VIRTIO_PCI_BAR.DEVICE_CONFIG + 2, 4],
    [0, VIRTIO_PCI_BAR.SIZE, 4],
  ] as const;
  for (const [bar, offset, length] of invalidWindows) {
    window(bar, offset, length);
    assert.equal(data(), 0x1312_1110, `window (${bar}, 0x${offset.toString(16)}, ${length}) does nothing`);
  }
  assert.deepEqual(f.device.configAccesses, []);
  f.driver.cfgWrite(cap + VIRTIO_PCI_CAP.CFG_TYPE, 1, 0x7);
  assert.deepEqual(
    [f.driver.cfgRead(cap + VIRTIO_PCI_CAP.CFG_TYPE, 1), f.driver.cfgRead(cap + VIRTIO_PCI_CAP.BAR, 1)],
    [VIRTIO_PCI_CAP_TYPE.PCI_CFG, 0],
    'cfg_type is read-only',
  );
});

test('no BAR0 or configuration access of any width or offset throws', () => {
  const f = fixture();
  initialize(f);
  const widths = [0, 1, 2, 3, 4, 5, 7, 8, 16];
  const offsets = [-8, -1, 0.5, Number.NaN, VIRTIO_PCI_BAR.SIZE - 1, VIRTIO_PCI_BAR.SIZE, VIRTIO_PCI_BAR.SIZE + 64];
  for (const start of Object.values(VIRTIO_PCI_BAR)) for (let delta = -3; delta < 0x40; delta++) offsets.push(start + delta);
  let seed = 7;
  for (const offset of offsets) {
    for (const width of widths) {
      f.transport.read(offset, new Uint8Array(width));
      f.transport.write(offset, Uint8Array.from({ length: width }, () => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff));
    }
  }
  for (let offset = -2; offset < 0x104; offset++) {
    for (const width of [1, 2, 3, 4]) {
      f.transport.readConfig(offset, new Uint8Array(width));
      f.transport.writeConfig(offset, le(width, 0xffff_ffff));
    }
  }
});

test('save and restore: a new transport carries the registers, the queues and re-activates the device', () => {
  const f = fixture();
  initialize(f);
  f.driver.set('QUEUE_SELECT', 1);
  const first = f.queues[0]!.addChain({ writable: [8] });
  f.queues[0]!.addChain({ readable: [Uint8Array.of(9)] });
  f.queues[0]!.publish();
  assert.equal(f.device.context.queues[0]!.pop()?.kind, 'chain');
  f.device.context.interrupts.queue(1);
  const saved = JSON.parse(JSON.stringify(f.transport.save())) as unknown;

  const device = new FakeDevice();
  const router = new RecordingRouter();
  const copy = new VirtioPciTransport({ device, memory: f.memory, barAddress: 0x5_0000_0000, msiRouter: router, hooks: new RecordingHooks() });
  copy.restore(saved);
  assert.deepEqual(copy.save(), f.transport.save());
  assert.equal(copy.barAddress, BAR_ADDRESS);
  assert.deepEqual(router.take(), ['route 0 0x30 unmasked', 'route 1 0x31 unmasked', 'route 2 0x32 unmasked']);
  assert.equal(device.activations.length, 1);
  const queue = device.context.queues[0]!;
  assert.deepEqual([queue.ready, queue.nextAvail, queue.config.eventIdx], [true, 1, true]);
  assert.equal(queue.pop()?.kind, 'chain', 'the second request is still there');
  queue.addUsed(first.head, 8);
  device.context.interrupts.queue(0);
  assert.deepEqual(router.take(), ['inject 1']);
  const restoredDriver = new ModernDriver(copy);
  restoredDriver.probe();
  assert.deepEqual([restoredDriver.get('DEVICE_STATUS'), restoredDriver.get('QUEUE_SELECT')], [READY, 1]);
  assert.equal(restoredDriver.read('isr', 0, 1), 0x1);

  assert.throws(() => copy.restore(saved), transportError('RESTORE_ACTIVE'));
});

test('restore refuses malformed snapshots', () => {
  const f = fixture();
  const good = f.transport.save();
  const bad: unknown[] = [
    undefined,
    { ...good, version: 2 },
    { ...good, isr: 4 },
    { ...good, queues: good.queues.slice(1) },
    { ...good, activated: true },
  ];
  for (const snapshot of bad) {
    const fresh = fixture();
    assert.throws(() => fresh.transport.restore(snapshot), transportError('BAD_SNAPSHOT'));
  }
});

test('devices the transport cannot present are refused with a clear error', () => {
  const build = (device: Partial<VirtioDevice>) => () =>
    new VirtioPciTransport({
      device: Object.assign(new FakeDevice(), device),
      memory: GuestMemory.anonymous([{ guestBase: 0, size: 0x1000 }]),
      barAddress: BAR_ADDRESS,
      msiRouter: new RecordingRouter(),
      hooks: new RecordingHooks(),
    });
  assert.throws(build({ deviceType: 0 }), transportError('DEVICE_INVALID'));
  assert.throws(build({ deviceType: 0x40 }), transportError('DEVICE_INVALID'));
  assert.throws(build({ queueMaxSizes: [] }), transportError('DEVICE_INVALID'));
  assert.throws(build({ queueMaxSizes: new Array<number>(0x401).fill(8) }), transportError('DEVICE_INVALID'));
  assert.throws(build({ queueMaxSizes: [256, 100] }), /queue 1 maximum size 100/);
  assert.throws(build({ configSize: 0x1001 }), transportError('DEVICE_INVALID'));
  assert.throws(build({ availableFeatures: 1n << 128n }), transportError('DEVICE_INVALID'));
  assert.throws(build({ availableFeatures: VIRTIO_F.RING_PACKED | VIRTIO_F.NOTIFICATION_DATA }), /bits 0x4400000000/);
  assert.doesNotThrow(build({ availableFeatures: VIRTIO_F.ACCESS_PLATFORM | VIRTIO_F.IN_ORDER | (1n << 63n) }));
});
