/** REST API JSON -> normalised configuration: serde defaults, null as absent, explicit fields, descriptor placeholders. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error.ts';
import { DEFAULT_DEBUG_CONSOLE_IOBASE, defaultVmConfig } from './defaults.ts';
import {
  deviceConfigFromJson,
  diskConfigFromJson,
  fsConfigFromJson,
  netConfigFromJson,
  restoreConfigFromJson,
  vdpaConfigFromJson,
  vmConfigFromJson,
} from './from-json.ts';

test('a payload alone gives upstream default VM, and only payload is explicit', () => {
  const { config, explicitFields } = vmConfigFromJson({ payload: { kernel: '/vmlinux', cmdline: 'console=ttyS0' } });
  assert.deepEqual(config, defaultVmConfig({ kernel: '/vmlinux', cmdline: 'console=ttyS0' }));
  assert.deepEqual([...explicitFields], ['payload']);
});

test('null means absent, at the top level and inside objects', () => {
  const { config, explicitFields } = vmConfigFromJson({
    payload: { kernel: '/k', initramfs: null },
    rng: null,
    serial: null,
    disks: null,
    cpus: { boot_vcpus: 2, max_vcpus: 4, topology: null, max_phys_bits: null },
  });
  assert.deepEqual(config.payload, { kernel: '/k' });
  assert.equal(config.disks, undefined);
  assert.deepEqual(config.serial, { mode: 'Null' });
  assert.deepEqual(config.rng, { src: '/dev/urandom', iommu: false, pci_segment: 0 });
  assert.equal(config.cpus.max_phys_bits, 46);
  assert.deepEqual([...explicitFields].sort(), ['cpus', 'payload']);
});

test('a given object takes field defaults; an absent one takes the struct default', () => {
  const absent = vmConfigFromJson({ payload: { kernel: '/k' } }).config;
  assert.deepEqual(absent.debug_console, { mode: 'Off', iobase: DEFAULT_DEBUG_CONSOLE_IOBASE });
  const given = vmConfigFromJson({ payload: { kernel: '/k' }, debug_console: { mode: 'Tty' }, console: { mode: 'Off' } }).config;
  assert.deepEqual(given.debug_console, { mode: 'Tty' }, 'iobase has no field-level default');
  assert.deepEqual(given.console, { mode: 'Off', iommu: false, pci_segment: 0 });
});

test('cpus and memory fill every omitted key', () => {
  const { config } = vmConfigFromJson({
    payload: { kernel: '/k' },
    cpus: { boot_vcpus: 2, max_vcpus: 2, features: {} },
    memory: { size: 1 << 30, zones: [{ id: 'z0', size: 1 << 20 }] },
  });
  assert.deepEqual(config.cpus, {
    boot_vcpus: 2,
    max_vcpus: 2,
    kvm_hyperv: false,
    max_phys_bits: 46,
    features: { amx: false },
    nested: true,
    core_scheduling: 'Vm',
    profile: 'Host',
  });
  assert.deepEqual(config.memory.zones, [
    { id: 'z0', size: 1 << 20, mergeable: false, shared: false, hugepages: false, prefault: false, reserve: false },
  ]);
  assert.equal(config.memory.thp, true);
  assert.equal(config.memory.hotplug_method, 'Acpi');
});

test('devices get their serde defaults', () => {
  assert.deepEqual(diskConfigFromJson({ path: '/disk.raw' }), {
    path: '/disk.raw',
    iommu: false,
    pci_segment: 0,
    readonly: false,
    direct: false,
    num_queues: 1,
    queue_size: 128,
    vhost_user: false,
    disable_io_uring: false,
    disable_aio: false,
    backing_files: false,
    sparse: true,
    image_type: 'Unknown',
    lock_granularity: 'ByteRange',
  });
  assert.deepEqual(fsConfigFromJson({ tag: 'fs0', socket: '/s' }), {
    tag: 'fs0', socket: '/s', num_queues: 1, queue_size: 1024, iommu: false, pci_segment: 0,
  });
  assert.deepEqual(vdpaConfigFromJson({ path: '/dev/vhost-vdpa-0' }), { path: '/dev/vhost-vdpa-0', num_queues: 1, iommu: false, pci_segment: 0 });
  const net = netConfigFromJson({ tap: 'tap0' });
  assert.equal(net.ip, undefined, 'the YAML default ip is not applied: upstream code has none');
  assert.equal(net.num_queues, 2);
  assert.equal(net.queue_size, 256);
  assert.equal(net.vhost_mode, 'Client');
  assert.deepEqual([net.offload_tso, net.offload_ufo, net.offload_csum], [true, true, true]);
});

test('descriptor numbers in JSON become -1 placeholders', () => {
  assert.deepEqual(netConfigFromJson({ fds: [7, 8] }).fds, [-1, -1]);
  assert.equal(deviceConfigFromJson({ fd: 9 }).fd, -1);
  assert.equal(deviceConfigFromJson({ path: '/sys/bus/pci/devices/0000:01:00.0/' }).fd, undefined);
  const restore = restoreConfigFromJson({
    source_url: 'file:///snap',
    net_fds: [{ id: 'net0', num_fds: 2, fds: [3, 4] }],
    vfio_fds: [{ id: 'vfio0', fd: 5 }],
    iommufd_fd: 6,
  });
  assert.deepEqual(restore, {
    source_url: 'file:///snap',
    prefault: false,
    memory_restore_mode: 'Copy',
    net_fds: [{ id: 'net0', num_fds: 2, fds: [-1, -1] }],
    vfio_fds: [{ id: 'vfio0', fd: -1 }],
    iommufd_fd: -1,
    resume: false,
    zone_updates: [],
  });
});

test('platform accepts the deprecated aliases, but not together with the new names', () => {
  const { config } = vmConfigFromJson({ payload: { kernel: '/k' }, platform: { serial_number: 'S1', uuid: 'U1' } });
  assert.equal(config.platform?.system_serial_number, 'S1');
  assert.equal(config.platform?.system_uuid, 'U1');
  assert.equal(config.platform?.num_pci_segments, 1);
  assert.equal(config.platform?.vfio_p2p_dma, true);
  assert.throws(
    () => vmConfigFromJson({ payload: { kernel: '/k' }, platform: { serial_number: 'S1', system_serial_number: 'S2' } }),
    (error: ConfigError) => error.code === 'CONFLICTING_VALUES' && error.field === 'platform.system_serial_number',
  );
});

test('a missing required field is a ConfigError naming its path', () => {
  assert.throws(() => vmConfigFromJson({}), (error: ConfigError) => error.code === 'MISSING_VALUE' && error.field === 'payload');
  assert.throws(
    () => vmConfigFromJson({ payload: {}, disks: [{ path: '/a' }, { rate_limiter_config: { ops: { size: 1 } } }] }),
    (error: ConfigError) => error.field === 'disks[1].rate_limiter_config.ops.refill_time',
  );
  assert.throws(() => fsConfigFromJson({ tag: 'x' }), (error: ConfigError) => error.field === 'fs.socket');
});
