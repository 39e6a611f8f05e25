/** Tests for validateVmConfig: one case per validation rule, with the code and field of the error. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from './config-error.ts';
import { defaultPlatformConfig, defaultVmConfig } from './defaults.ts';
import { MAX_SUPPORTED_CPUS, validateVmConfig } from './validate.ts';
import type { DeviceConfig, DiskConfig, FsConfig, GenericVhostUserConfig, MemoryZoneConfig, NetConfig, NumaConfig, VmConfig } from './vm-config.ts';

const MiB = 1 << 20;
const GiB = 1 << 30;

function base(patch: Partial<VmConfig> = {}): VmConfig {
  return { ...defaultVmConfig({ kernel: 'vmlinux' }), ...patch };
}

/** Guest memory shared with backends, as vhost-user devices need. */
function sharedMemory(): Partial<VmConfig> {
  return { memory: { ...base().memory, shared: true } };
}

function disk(patch: Partial<DiskConfig> = {}): DiskConfig {
  return {
    path: '/disk.img',
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
    ...patch,
  };
}

function net(patch: Partial<NetConfig> = {}): NetConfig {
  return {
    iommu: false,
    pci_segment: 0,
    num_queues: 2,
    queue_size: 256,
    vhost_user: false,
    vhost_mode: 'Client',
    offload_tso: true,
    offload_ufo: true,
    offload_csum: true,
    ...patch,
  };
}

function fs(patch: Partial<FsConfig> = {}): FsConfig {
  return { tag: 'share', socket: '/fs.sock', num_queues: 1, queue_size: 1024, iommu: false, pci_segment: 0, ...patch };
}

function genericVhostUser(patch: Partial<GenericVhostUserConfig> = {}): GenericVhostUserConfig {
  return { socket: '/g.sock', queue_sizes: [256], device_type: 1, iommu: false, pci_segment: 0, ...patch };
}

function vfio(patch: Partial<DeviceConfig> = {}): DeviceConfig {
  return { path: '/sys/bus/pci/devices/0000:01:00.0', iommu: false, pci_segment: 0, x_exclude_mmap_bars: [], ...patch };
}

function zone(patch: Partial<MemoryZoneConfig> = {}): MemoryZoneConfig {
  return { id: 'mem0', size: GiB, mergeable: false, shared: false, hugepages: false, prefault: false, reserve: false, ...patch };
}

function rejects(config: VmConfig, code: string, field: string, message?: string): void {
  assert.throws(
    () => validateVmConfig(config),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      assert.equal(error.code, code);
      assert.equal(error.field, field);
      if (message !== undefined) assert.equal(error.message, message);
      return true;
    },
  );
}

function accepts(config: VmConfig): VmConfig {
  return validateVmConfig(config).config;
}

describe('a valid configuration', () => {
  it('passes unchanged with no warnings', () => {
    assert.deepEqual(validateVmConfig(base()), { config: base(), warnings: [] });
  });
});

describe('payload', () => {
  it('must contain a kernel or a firmware', () => {
    rejects(base({ payload: {} }), 'PAYLOAD_NOT_BOOTABLE', 'payload', '--kernel/--firmware: payload configuration is not bootable: give --kernel <path> or --firmware <path> [payload]');
    rejects(base({ payload: { cmdline: 'x' } }), 'PAYLOAD_NOT_BOOTABLE', 'payload');
  });

  it('cannot have both a kernel and a firmware', () => {
    rejects(
      base({ payload: { kernel: 'k', firmware: 'f' } }),
      'CONFLICTING_VALUES',
      'payload.kernel',
      '--kernel: specifying a kernel is not supported when a firmware is provided; give either --kernel or --firmware [payload.kernel]',
    );
  });

  it('igvm cannot be combined with a firmware, but is bootable alone', () => {
    rejects(base({ payload: { igvm: 'x.igvm', firmware: 'f' } }), 'CONFLICTING_VALUES', 'payload.igvm');
    assert.deepEqual(accepts(base({ payload: { igvm: 'x.igvm' } })).payload, { igvm: 'x.igvm' });
  });

  it('a firmware payload drops cmdline and initramfs with warnings, without modifying the input', () => {
    const input = base({ payload: { firmware: 'fw', cmdline: 'c', initramfs: 'i' } });
    const result = validateVmConfig(input);
    assert.deepEqual(result.config.payload, { firmware: 'fw' });
    assert.equal(result.warnings.length, 2);
    assert.deepEqual(input.payload, { firmware: 'fw', cmdline: 'c', initramfs: 'i' });
  });
});

describe('console outputs', () => {
  it('file mode needs a file, socket mode a socket', () => {
    rejects(base({ serial: { mode: 'File' } }), 'MISSING_VALUE', 'serial.file', '--serial: file mode needs a path: file=<path> [serial.file]');
    rejects(base({ console: { mode: 'Socket', iommu: false, pci_segment: 0 } }), 'MISSING_VALUE', 'console.socket');
    rejects(base({ debug_console: { mode: 'File' } }), 'MISSING_VALUE', 'debug_console.file');
    accepts(base({ serial: { mode: 'File', file: '/tmp/serial.log' } }));
  });

  it('the debug console has no socket mode', () => {
    rejects(base({ debug_console: { mode: 'Socket' } }), 'INVALID_VALUE', 'debug_console.mode');
  });
});

describe('cpus', () => {
  const cpus = base().cpus;

  it('needs at least one boot vCPU', () => {
    rejects(base({ cpus: { ...cpus, boot_vcpus: 0, max_vcpus: 0 } }), 'INVALID_VALUE', 'cpus.boot_vcpus');
  });

  it('max must not be lower than boot', () => {
    rejects(base({ cpus: { ...cpus, boot_vcpus: 4, max_vcpus: 2 } }), 'CPUS_MAX_LOWER_THAN_BOOT', 'cpus.max_vcpus', '--cpus: max=2 is lower than boot=4; raise max or lower boot [cpus.max_vcpus]');
  });

  it('max is limited', () => {
    accepts(base({ cpus: { ...cpus, max_vcpus: MAX_SUPPORTED_CPUS } }));
    rejects(base({ cpus: { ...cpus, max_vcpus: MAX_SUPPORTED_CPUS + 1 } }), 'INVALID_VALUE', 'cpus.max_vcpus');
  });

  it('topology: no zero part, at most 2 threads per core, product equals max', () => {
    const topology = { threads_per_core: 2, cores_per_die: 2, dies_per_package: 1, packages: 2 };
    accepts(base({ cpus: { ...cpus, boot_vcpus: 8, max_vcpus: 8, topology } }));
    rejects(base({ cpus: { ...cpus, max_vcpus: 8, topology: { ...topology, packages: 0 } } }), 'INVALID_CPU_TOPOLOGY', 'cpus.topology');
    rejects(base({ cpus: { ...cpus, max_vcpus: 12, topology: { ...topology, threads_per_core: 3 } } }), 'INVALID_CPU_TOPOLOGY', 'cpus.topology.threads_per_core');
    rejects(
      base({ cpus: { ...cpus, max_vcpus: 4, topology } }),
      'INVALID_CPU_TOPOLOGY',
      'cpus.topology',
      '--cpus: topology 2:2:1:2 describes 8 vCPUs but max=4; the product of its parts must equal max [cpus.topology]',
    );
  });
});

describe('memory', () => {
  const memory = base().memory;

  it('needs some memory', () => {
    rejects(base({ memory: { ...memory, size: 0 } }), 'INVALID_VALUE', 'memory.size');
    accepts(base({ memory: { ...memory, size: 0, zones: [zone()] } }));
  });

  it('hugepage_size needs hugepages and must be a power of two', () => {
    rejects(base({ memory: { ...memory, hugepage_size: 2 * MiB } }), 'INVALID_HUGEPAGES', 'memory.hugepage_size');
    rejects(base({ memory: { ...memory, hugepages: true, hugepage_size: 3 * MiB } }), 'INVALID_HUGEPAGES', 'memory.hugepage_size');
    accepts(base({ memory: { ...memory, hugepages: true, hugepage_size: GiB } }));
    rejects(base({ memory: { ...memory, zones: [zone({ hugepage_size: 2 * MiB })] } }), 'INVALID_HUGEPAGES', 'memory.zones[0].hugepage_size');
  });

  it('shared and mergeable exclude each other', () => {
    rejects(base({ memory: { ...memory, shared: true, mergeable: true } }), 'CONFLICTING_VALUES', 'memory.mergeable');
    rejects(base({ memory: { ...memory, zones: [zone({ shared: true, mergeable: true })] } }), 'CONFLICTING_VALUES', 'memory.zones[0].mergeable');
  });
});

describe('identifiers', () => {
  it('must be unique across device kinds, zones and rate-limit groups', () => {
    rejects(
      base({ disks: [disk({ id: 'dev0' })], net: [net({ id: 'dev0' })] }),
      'IDENTIFIER_NOT_UNIQUE',
      'net[0].id',
      '--net: identifier "dev0" is not unique; give every device, memory zone and rate-limit group its own id [net[0].id]',
    );
    rejects(base({ disks: [disk({ id: 'a' }), disk({ id: 'a', path: '/other' })] }), 'IDENTIFIER_NOT_UNIQUE', 'disks[1].id');
    rejects(base({ disks: [disk({ id: 'mem0' })], memory: { ...base().memory, zones: [zone()] } }), 'IDENTIFIER_NOT_UNIQUE', 'memory.zones[0].id');
    rejects(base({ rng: { ...base().rng, id: 'x' }, console: { ...base().console, id: 'x' } }), 'IDENTIFIER_NOT_UNIQUE', 'console.id');
  });

  it('may not start with "__"', () => {
    rejects(base({ disks: [disk({ id: '__disk' })] }), 'IDENTIFIER_RESERVED', 'disks[0].id');
  });
});

describe('PCI placement', () => {
  it('segment must exist', () => {
    rejects(base({ disks: [disk({ pci_segment: 1 })] }), 'INVALID_PCI_PLACEMENT', 'disks[0].pci_segment');
    accepts(base({ disks: [disk({ pci_segment: 1 })], platform: { ...defaultPlatformConfig(), num_pci_segments: 2 } }));
  });

  it('devices on an IOMMU segment need iommu=on', () => {
    const platform = { ...defaultPlatformConfig(), num_pci_segments: 2, iommu_segments: [1] };
    rejects(base({ disks: [disk({ pci_segment: 1 })], platform }), 'INVALID_PCI_PLACEMENT', 'disks[0].iommu');
    accepts(base({ disks: [disk({ pci_segment: 1, iommu: true })], platform }));
  });

  it('slot must be below 32 and slot 0 of segment 0 is reserved', () => {
    rejects(base({ disks: [disk({ pci_device_id: 32 })] }), 'INVALID_PCI_PLACEMENT', 'disks[0].pci_device_id');
    rejects(base({ rng: { ...base().rng, pci_device_id: 0 } }), 'INVALID_PCI_PLACEMENT', 'rng.pci_device_id');
    accepts(base({ disks: [disk({ pci_segment: 1, pci_device_id: 0 })], platform: { ...defaultPlatformConfig(), num_pci_segments: 2 } }));
  });
});

describe('disks', () => {
  it('need a path, or a socket with vhost_user, not both', () => {
    const { path: _path, ...noPath } = disk();
    rejects(base({ disks: [noPath] }), 'MISSING_VALUE', 'disks[0].path');
    rejects(base({ disks: [disk({ vhost_socket: '/s' })] }), 'CONFLICTING_VALUES', 'disks[0].vhost_socket');
  });

  it('vhost-user needs shared memory, a socket, no rate limiting and no iommu', () => {
    const { path: _path, ...noPath } = disk();
    rejects(base({ disks: [{ ...noPath, vhost_user: true, vhost_socket: '/s' }] }), 'SHARED_MEMORY_REQUIRED', 'disks[0].vhost_user');
    rejects(base({ ...sharedMemory(), disks: [{ ...noPath, vhost_user: true }] }), 'MISSING_VALUE', 'disks[0].vhost_socket');
    const limiter = { bandwidth: { size: 1, refill_time: 1 } };
    rejects(base({ ...sharedMemory(), disks: [{ ...noPath, vhost_user: true, vhost_socket: '/s', rate_limiter_config: limiter }] }), 'CONFLICTING_VALUES', 'disks[0].rate_limiter_config');
    rejects(base({ ...sharedMemory(), disks: [{ ...noPath, vhost_user: true, vhost_socket: '/s', iommu: true }] }), 'CONFLICTING_VALUES', 'disks[0].iommu');
    accepts(base({ ...sharedMemory(), disks: [{ ...noPath, vhost_user: true, vhost_socket: '/s' }] }));
    accepts(base({ memory: { ...base().memory, hugepages: true }, disks: [{ ...noPath, vhost_user: true, vhost_socket: '/s' }] }));
  });

  it('rate_limit_group must exist and excludes per-disk limits', () => {
    const group = { id: 'g0', rate_limiter_config: { ops: { size: 10, refill_time: 100 } } };
    rejects(base({ disks: [disk({ rate_limit_group: 'g0' })] }), 'INVALID_VALUE', 'disks[0].rate_limit_group');
    accepts(base({ rate_limit_groups: [group], disks: [disk({ rate_limit_group: 'g0' })] }));
    rejects(
      base({ rate_limit_groups: [group], disks: [disk({ rate_limit_group: 'g0', rate_limiter_config: { bandwidth: { size: 1, refill_time: 1 } } })] }),
      'CONFLICTING_VALUES',
      'disks[0].rate_limit_group',
    );
  });

  it('queues: at least one, no more than boot vCPUs, power-of-two size above 2', () => {
    rejects(base({ disks: [disk({ num_queues: 2 })] }), 'INVALID_VALUE', 'disks[0].num_queues', '--disk: num_queues=2 exceeds the number of boot vCPUs (1) [disks[0].num_queues]');
    rejects(base({ disks: [disk({ num_queues: 0 })] }), 'INVALID_VALUE', 'disks[0].num_queues');
    rejects(base({ disks: [disk({ queue_size: 100 })] }), 'INVALID_VALUE', 'disks[0].queue_size');
    rejects(base({ disks: [disk({ queue_size: 2 })] }), 'INVALID_VALUE', 'disks[0].queue_size');
    rejects(base({ disks: [disk({ queue_size: 65536 })] }), 'INVALID_VALUE', 'disks[0].queue_size');
    accepts(base({ disks: [disk({ queue_size: 4 })] }));
  });

  it('serial is at most 20 bytes', () => {
    accepts(base({ disks: [disk({ serial: 'x'.repeat(20) })] }));
    rejects(base({ disks: [disk({ serial: 'x'.repeat(21) })] }), 'INVALID_VALUE', 'disks[0].serial');
    rejects(base({ disks: [disk({ serial: '\u00e9'.repeat(11) })] }), 'INVALID_VALUE', 'disks[0].serial');
  });
});

describe('rate-limit groups', () => {
  it('need a limit and an id', () => {
    rejects(base({ rate_limit_groups: [{ id: 'g0', rate_limiter_config: {} }] }), 'MISSING_VALUE', 'rate_limit_groups[0].rate_limiter_config');
    rejects(base({ rate_limit_groups: [{ id: '', rate_limiter_config: { ops: { size: 1, refill_time: 1 } } }] }), 'MISSING_VALUE', 'rate_limit_groups[0].id');
  });
});

describe('net', () => {
  it('queues: at least 2, one pair per fd, pairs no more than boot vCPUs, power-of-two size', () => {
    rejects(base({ net: [net({ num_queues: 1 })] }), 'INVALID_VALUE', 'net[0].num_queues');
    rejects(base({ net: [net({ num_queues: 4, fds: [3] })] }), 'CONFLICTING_VALUES', 'net[0].num_queues');
    rejects(base({ net: [net({ fds: [2] })] }), 'INVALID_VALUE', 'net[0].fds');
    accepts(base({ net: [net({ fds: [3] })] }));
    rejects(base({ net: [net({ num_queues: 4 })] }), 'INVALID_VALUE', 'net[0].num_queues');
    rejects(base({ net: [net({ queue_size: 300 })] }), 'INVALID_VALUE', 'net[0].queue_size');
  });

  it('mtu is at least 1280', () => {
    rejects(base({ net: [net({ mtu: 1279 })] }), 'INVALID_VALUE', 'net[0].mtu');
    accepts(base({ net: [net({ mtu: 1280 })] }));
  });

  it('tso and ufo need csum', () => {
    rejects(base({ net: [net({ offload_csum: false })] }), 'CONFLICTING_VALUES', 'net[0].offload_csum');
    accepts(base({ net: [net({ offload_csum: false, offload_tso: false, offload_ufo: false })] }));
  });

  it('ip and mask go together', () => {
    rejects(base({ net: [net({ mask: '255.255.255.0' })] }), 'MISSING_VALUE', 'net[0].ip');
    rejects(base({ net: [net({ ip: '10.0.0.1' })] }), 'MISSING_VALUE', 'net[0].mask');
    accepts(base({ net: [net({ ip: '10.0.0.1', mask: '255.255.255.0' })] }));
  });

  it('vhost-user needs shared memory, a socket, no rate limiting and no iommu', () => {
    rejects(base({ net: [net({ vhost_user: true, vhost_socket: '/s' })] }), 'SHARED_MEMORY_REQUIRED', 'net[0].vhost_user');
    rejects(base({ ...sharedMemory(), net: [net({ vhost_user: true })] }), 'MISSING_VALUE', 'net[0].vhost_socket');
    rejects(base({ ...sharedMemory(), net: [net({ vhost_user: true, vhost_socket: '/s', rate_limiter_config: { ops: { size: 1, refill_time: 1 } } })] }), 'CONFLICTING_VALUES', 'net[0].rate_limiter_config');
    rejects(base({ ...sharedMemory(), net: [net({ vhost_user: true, vhost_socket: '/s', iommu: true })] }), 'CONFLICTING_VALUES', 'net[0].iommu');
  });
});

describe('virtio-fs, generic vhost-user and vfio-user devices', () => {
  it('need shared memory', () => {
    rejects(base({ fs: [fs()] }), 'SHARED_MEMORY_REQUIRED', 'fs');
    rejects(base({ generic_vhost_user: [genericVhostUser()] }), 'SHARED_MEMORY_REQUIRED', 'generic_vhost_user');
    rejects(base({ user_devices: [{ socket: '/u', iommu: false, pci_segment: 0 }] }), 'SHARED_MEMORY_REQUIRED', 'user_devices');
    accepts(base({ ...sharedMemory(), fs: [fs()], generic_vhost_user: [genericVhostUser()], user_devices: [{ socket: '/u', iommu: false, pci_segment: 0 }] }));
  });

  it('shared memory may come from zones when size is 0', () => {
    accepts(base({ memory: { ...base().memory, size: 0, zones: [zone({ shared: true })] }, fs: [fs()] }));
    rejects(base({ memory: { ...base().memory, size: 0, zones: [zone({ shared: true }), zone({ id: 'mem1' })] }, fs: [fs()] }), 'SHARED_MEMORY_REQUIRED', 'fs');
  });

  it('fs: tag length, queues, no iommu', () => {
    rejects(base({ ...sharedMemory(), fs: [fs({ tag: 't'.repeat(37) })] }), 'INVALID_VALUE', 'fs[0].tag');
    rejects(base({ ...sharedMemory(), fs: [fs({ num_queues: 2 })] }), 'INVALID_VALUE', 'fs[0].num_queues');
    rejects(base({ ...sharedMemory(), fs: [fs({ queue_size: 1000 })] }), 'INVALID_VALUE', 'fs[0].queue_size');
    rejects(base({ ...sharedMemory(), fs: [fs({ iommu: true })] }), 'CONFLICTING_VALUES', 'fs[0].iommu');
  });

  it('generic vhost-user: no watchdog or iommu device types, power-of-two queues, no iommu', () => {
    rejects(base({ ...sharedMemory(), generic_vhost_user: [genericVhostUser({ device_type: 35 })] }), 'INVALID_VALUE', 'generic_vhost_user[0].device_type');
    rejects(base({ ...sharedMemory(), generic_vhost_user: [genericVhostUser({ device_type: 23 })] }), 'INVALID_VALUE', 'generic_vhost_user[0].device_type');
    rejects(base({ ...sharedMemory(), generic_vhost_user: [genericVhostUser({ queue_sizes: [256, 100] })] }), 'INVALID_VALUE', 'generic_vhost_user[0].queue_sizes[1]');
    rejects(base({ ...sharedMemory(), generic_vhost_user: [genericVhostUser({ iommu: true })] }), 'CONFLICTING_VALUES', 'generic_vhost_user[0].iommu');
  });

  it('vfio-user: no iommu', () => {
    rejects(base({ ...sharedMemory(), user_devices: [{ socket: '/u', iommu: true, pci_segment: 0 }] }), 'CONFLICTING_VALUES', 'user_devices[0].iommu');
  });
});

describe('vsock and balloon', () => {
  const vsock = { cid: 3, socket: '/v.sock', iommu: false, pci_segment: 0 };

  it('special CIDs are rejected', () => {
    for (const cid of [0, 1, 2, 0xffffffff]) rejects(base({ vsock: { ...vsock, cid } }), 'INVALID_VALUE', 'vsock.cid');
    rejects(base({ vsock: { ...vsock, cid: 2 ** 32 } }), 'INVALID_VALUE', 'vsock.cid');
    accepts(base({ vsock }));
  });

  it('balloon must be smaller than the guest RAM (including zones and hotplugged memory)', () => {
    const balloon = { size: 512 * MiB, deflate_on_oom: false, free_page_reporting: false, iommu: false, pci_segment: 0 };
    rejects(base({ balloon }), 'INVALID_VALUE', 'balloon.size');
    accepts(base({ balloon: { ...balloon, size: 511 * MiB } }));
    accepts(base({ balloon, memory: { ...base().memory, hotplugged_size: MiB } }));
    accepts(base({ balloon, memory: { ...base().memory, zones: [zone({ size: 0, hotplugged_size: MiB })] } }));
  });
});

describe('VFIO devices', () => {
  it('path must not repeat', () => {
    rejects(base({ devices: [vfio({ id: 'a' }), vfio({ id: 'b' })] }), 'DUPLICATE_DEVICE_PATH', 'devices[1].path');
  });

  it('exactly one of path and fd; fd needs the platform iommufd_fd', () => {
    const { path: _path, ...noPath } = vfio();
    rejects(base({ devices: [noPath] }), 'MISSING_VALUE', 'devices[0].path');
    rejects(base({ devices: [vfio({ fd: 5 })] }), 'CONFLICTING_VALUES', 'devices[0].fd');
    rejects(base({ devices: [{ ...noPath, fd: 5 }] }), 'MISSING_VALUE', 'devices[0].fd');
    accepts(base({ devices: [{ ...noPath, fd: 5 }], platform: { ...defaultPlatformConfig(), iommufd: true, iommufd_fd: 6 } }));
  });

  it('gpudirect clique needs p2p DMA; BAR indices are 0 to 5', () => {
    rejects(base({ devices: [vfio({ x_nv_gpudirect_clique: 1 })], platform: { ...defaultPlatformConfig(), vfio_p2p_dma: false } }), 'CONFLICTING_VALUES', 'devices[0].x_nv_gpudirect_clique');
    accepts(base({ devices: [vfio({ x_nv_gpudirect_clique: 1 })] }));
    rejects(base({ devices: [vfio({ x_exclude_mmap_bars: [0, 6] })] }), 'INVALID_VALUE', 'devices[0].x_exclude_mmap_bars');
  });
});

describe('NUMA', () => {
  const node = (patch: Partial<NumaConfig>): NumaConfig => ({ guest_numa_id: 0, ...patch });

  it('a node has a device_id or cpus/memory zones, not both, not empty', () => {
    rejects(base({ numa: [node({ device_id: 'gpu0', cpus: [0] })] }), 'CONFLICTING_VALUES', 'numa[0].device_id');
    rejects(base({ numa: [node({ device_id: '' })] }), 'INVALID_VALUE', 'numa[0].device_id');
    rejects(base({ numa: [node({})] }), 'MISSING_VALUE', 'numa[0]');
    rejects(base({ numa: [node({ cpus: [] })] }), 'INVALID_VALUE', 'numa[0].cpus');
    rejects(base({ numa: [node({ memory_zones: [] })] }), 'INVALID_VALUE', 'numa[0].memory_zones');
    accepts(base({ numa: [node({ cpus: [0] }), node({ guest_numa_id: 1, device_id: 'gpu0' })] }));
  });

  it('a memory zone or PCI segment belongs to one node; segment 0 stays on node 0', () => {
    rejects(base({ numa: [node({ memory_zones: ['z'] }), node({ guest_numa_id: 1, memory_zones: ['z'] })] }), 'CONFLICTING_VALUES', 'numa[1].memory_zones');
    const platform = { ...defaultPlatformConfig(), num_pci_segments: 3 };
    rejects(base({ numa: [node({ cpus: [0], pci_segments: [3] })], platform }), 'INVALID_PCI_PLACEMENT', 'numa[0].pci_segments');
    rejects(base({ numa: [node({ guest_numa_id: 1, cpus: [0], pci_segments: [0] })], platform }), 'INVALID_PCI_PLACEMENT', 'numa[0].pci_segments');
    rejects(base({ numa: [node({ cpus: [0], pci_segments: [1] }), node({ guest_numa_id: 1, cpus: [1], pci_segments: [1] })], platform }), 'CONFLICTING_VALUES', 'numa[1].pci_segments');
  });
});

describe('platform and PCI segments', () => {
  const platform = defaultPlatformConfig();

  it('1 to 96 PCI segments; IOMMU segments must exist; address width at most 64', () => {
    rejects(base({ platform: { ...platform, num_pci_segments: 0 } }), 'INVALID_VALUE', 'platform.num_pci_segments');
    rejects(base({ platform: { ...platform, num_pci_segments: 97 } }), 'INVALID_VALUE', 'platform.num_pci_segments');
    accepts(base({ platform: { ...platform, num_pci_segments: 96 } }));
    rejects(base({ platform: { ...platform, iommu_segments: [1] } }), 'INVALID_PCI_PLACEMENT', 'platform.iommu_segments');
    rejects(base({ platform: { ...platform, iommu_address_width_bits: 65 } }), 'INVALID_VALUE', 'platform.iommu_address_width_bits');
  });

  it('iommufd_fd needs iommufd=on', () => {
    rejects(base({ platform: { ...platform, iommufd_fd: 5 } }), 'CONFLICTING_VALUES', 'platform.iommufd');
  });

  it('--pci-segment: segment must exist, weights are not zero', () => {
    const segment = { pci_segment: 0, mmio32_aperture_weight: 1, mmio64_aperture_weight: 1 };
    accepts(base({ pci_segments: [segment] }));
    rejects(base({ pci_segments: [{ ...segment, pci_segment: 1 }] }), 'INVALID_PCI_PLACEMENT', 'pci_segments[0].pci_segment');
    rejects(base({ pci_segments: [{ ...segment, mmio32_aperture_weight: 0 }] }), 'INVALID_VALUE', 'pci_segments[0].mmio32_aperture_weight');
    rejects(base({ pci_segments: [{ ...segment, mmio64_aperture_weight: 0 }] }), 'INVALID_VALUE', 'pci_segments[0].mmio64_aperture_weight');
  });
});

describe('landlock rules', () => {
  it('access is r, w or rw', () => {
    for (const access of ['r', 'w', 'rw', 'wr']) accepts(base({ landlock_rules: [{ path: '/tmp', access }] }));
    for (const access of ['', 'x', 'rwx', 'rr']) rejects(base({ landlock_rules: [{ path: '/tmp', access }] }), 'INVALID_VALUE', 'landlock_rules[0].access');
  });
});

describe('iommu', () => {
  it('is turned on by a device behind the IOMMU or by IOMMU segments', () => {
    assert.equal(accepts(base()).iommu, false);
    assert.equal(accepts(base({ disks: [disk({ iommu: true })] })).iommu, true);
    assert.equal(accepts(base({ rng: { ...base().rng, iommu: true } })).iommu, true);
    assert.equal(accepts(base({ platform: { ...defaultPlatformConfig(), num_pci_segments: 2, iommu_segments: [1] } })).iommu, true);
    assert.equal(accepts(base({ iommu: true })).iommu, true);
  });
});
