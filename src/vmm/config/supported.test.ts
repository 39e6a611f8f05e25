/** Tests for checkSupported/checkVmmSupported: what Nimbus builds today passes, everything else is named. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDisk } from '../../cli/device-option-parsers.ts';
import { ConfigError } from './config-error.ts';
import { defaultVmConfig } from './defaults.ts';
import { checkSupported, checkVmmSupported, SUPPORTED_FEATURES } from './supported.ts';
import type { VmConfig, VmConfigField } from './vm-config.ts';
import type { VmmOptions } from './vmm-options.ts';

function base(patch: Partial<VmConfig> = {}): VmConfig {
  return { ...defaultVmConfig({ kernel: 'vmlinux' }), ...patch };
}

const NOTHING_EXPLICIT = new Set<VmConfigField>();

function unsupported(action: () => void, field: string, message?: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'UNSUPPORTED');
    assert.equal(error.field, field);
    if (message !== undefined) assert.equal(error.message, message);
    return true;
  });
}

describe('checkSupported', () => {
  it('accepts the implemented subset', () => {
    checkSupported(base(), NOTHING_EXPLICIT);
    checkSupported(base({ payload: { firmware: 'fw.elf' } }), new Set(['payload']));
    checkSupported(base({ payload: { kernel: 'k', initramfs: 'i', cmdline: 'console=ttyS0' } }), new Set(['payload']));
    const cpus = { ...base().cpus, boot_vcpus: 2, max_vcpus: 4, max_phys_bits: 40, topology: { threads_per_core: 1, cores_per_die: 4, dies_per_package: 1, packages: 1 } };
    checkSupported(base({ cpus, memory: { ...base().memory, size: 1 << 30 } }), new Set(['cpus', 'memory']));
    for (const serial of [{ mode: 'Off' }, { mode: 'Null' }, { mode: 'Tty' }, { mode: 'File', file: '/tmp/x' }] as const) {
      checkSupported(base({ serial }), new Set(['serial']));
    }
    checkSupported(base({ console: { ...base().console, mode: 'Off' } }), new Set(['console']));
  });

  it('the implicit console default is fine, an explicit one is not', () => {
    checkSupported(base(), NOTHING_EXPLICIT);
    unsupported(() => checkSupported(base(), new Set(['console'])), 'console.mode', '--console tty is not supported by Nimbus yet (no virtio-console yet); use --console off [console.mode]');
  });

  it('--rng with a source, an id and a slot is built; iommu=on is not', () => {
    checkSupported(base({ rng: { src: '/dev/random', id: 'entropy', pci_device_id: 3, iommu: false, pci_segment: 0 } }), new Set(['rng']));
    unsupported(
      () => checkSupported(base({ rng: { ...base().rng, iommu: true } }), new Set(['rng'])),
      'rng.iommu',
      '--rng iommu=on is not supported by Nimbus yet (no virtual IOMMU yet) [rng.iommu]',
    );
  });

  it('--disk: a raw image with readonly, queues, serial, id and slot is built; other keys are not', () => {
    const disk = parseDisk('path=/img');
    const disks = [disk, parseDisk('path=/b,readonly=on,num_queues=2,queue_size=256,serial=SER,id=data,pci_device_id=5,image_type=raw')];
    checkSupported(base({ disks }), new Set(['disks']));
    const refused: [string, string, string][] = [
      ['direct=on', 'direct', '--disk direct=on is not supported by Nimbus yet (O_DIRECT needs block-aligned buffers, which Node.js cannot allocate for bounce copies and zeroing); use direct=off'],
      ['image_type=qcow2', 'image_type', '--disk image_type=qcow2 is not supported by Nimbus yet; only raw images are built'],
      ['image_type=vhd', 'image_type', '--disk image_type=vhd is not supported by Nimbus yet; only raw images are built'],
      ['iommu=on', 'iommu', '--disk iommu=on is not supported by Nimbus yet (no virtual IOMMU yet)'],
      ['pci_segment=1', 'pci_segment', '--disk pci_segment is not supported by Nimbus yet (only PCI segment 0 exists)'],
      ['backing_files=on', 'backing_files', '--disk backing_files is not supported by Nimbus yet'],
      ['sparse=off', 'sparse', '--disk sparse is not supported by Nimbus yet'],
      ['lock_granularity=full', 'lock_granularity', '--disk lock_granularity is not supported by Nimbus yet'],
      ['_disable_io_uring=on', 'disable_io_uring', '--disk _disable_io_uring is not supported by Nimbus yet'],
      ['_disable_aio=on', 'disable_aio', '--disk _disable_aio is not supported by Nimbus yet'],
      ['bw_size=1000,bw_refill_time=100', 'rate_limiter_config', '--disk bw_*/ops_* is not supported by Nimbus yet'],
      ['rate_limit_group=g0', 'rate_limit_group', '--disk rate_limit_group is not supported by Nimbus yet'],
      ['queue_affinity=[0@[1]]', 'queue_affinity', '--disk queue_affinity is not supported by Nimbus yet'],
    ];
    for (const [keys, key, message] of refused) {
      const config = base({ disks: [disk, parseDisk(`path=/c,${keys}`)] });
      unsupported(() => checkSupported(config, new Set(['disks'])), `disks[1].${key}`, `${message} [disks[1].${key}]`);
    }
    const vhostUser = parseDisk('vhost_user=on,socket=/sock');
    unsupported(() => checkSupported(base({ disks: [vhostUser] }), new Set(['disks'])), 'disks[0].vhost_user', '--disk vhost_user is not supported by Nimbus yet [disks[0].vhost_user]');
  });

  it('serial pty and socket are not built yet', () => {
    unsupported(() => checkSupported(base({ serial: { mode: 'Pty' } }), NOTHING_EXPLICIT), 'serial.mode');
    unsupported(() => checkSupported(base({ serial: { mode: 'Socket', socket: '/s' } }), NOTHING_EXPLICIT), 'serial.mode');
  });

  it('cpus keys other than boot, max, topology and max_phys_bits', () => {
    const cpus = base().cpus;
    unsupported(() => checkSupported(base({ cpus: { ...cpus, kvm_hyperv: true } }), NOTHING_EXPLICIT), 'cpus.kvm_hyperv');
    unsupported(() => checkSupported(base({ cpus: { ...cpus, affinity: [{ vcpu: 0, host_cpus: [1] }] } }), NOTHING_EXPLICIT), 'cpus.affinity');
    unsupported(() => checkSupported(base({ cpus: { ...cpus, features: { amx: true } } }), NOTHING_EXPLICIT), 'cpus.features');
    unsupported(() => checkSupported(base({ cpus: { ...cpus, nested: false } }), NOTHING_EXPLICIT), 'cpus.nested');
    unsupported(() => checkSupported(base({ cpus: { ...cpus, core_scheduling: 'Off' } }), NOTHING_EXPLICIT), 'cpus.core_scheduling');
  });

  it('memory keys other than size', () => {
    const memory = base().memory;
    const changes: Partial<VmConfig['memory']>[] = [
      { hotplug_size: 1 << 30 },
      { hotplugged_size: 1 << 20 },
      { mergeable: true },
      { hotplug_method: 'VirtioMem' },
      { shared: true },
      { hugepages: true },
      { hugepage_size: 2 << 20 },
      { prefault: true },
      { reserve: true },
      { thp: false },
    ];
    for (const change of changes) {
      const key = Object.keys(change)[0] ?? '';
      unsupported(() => checkSupported(base({ memory: { ...memory, ...change } }), NOTHING_EXPLICIT), `memory.${key}`, `--memory ${key} is not supported by Nimbus yet [memory.${key}]`);
    }
    unsupported(() => checkSupported(base({ memory: { ...memory, zones: [] } }), NOTHING_EXPLICIT), 'memory.zones');
  });

  it('payload kinds other than kernel and firmware', () => {
    unsupported(() => checkSupported(base({ payload: { igvm: 'x' } }), NOTHING_EXPLICIT), 'payload.igvm');
    unsupported(() => checkSupported(base({ payload: { kernel: 'k', host_data: 'ab' } }), NOTHING_EXPLICIT), 'payload.host_data');
  });

  it('every device, the debug console and the boolean features', () => {
    const pci = { iommu: false, pci_segment: 0 };
    const cases: [Partial<VmConfig>, string, string][] = [
      [{ rate_limit_groups: [] }, 'rate_limit_groups', '--rate-limit-group'],
      [{ net: [] }, 'net', '--net'],
      [{ balloon: { ...pci, size: 0, deflate_on_oom: false, free_page_reporting: false } }, 'balloon', '--balloon'],
      [{ fs: [] }, 'fs', '--fs'],
      [{ generic_vhost_user: [] }, 'generic_vhost_user', '--generic-vhost-user'],
      [{ pmem: [] }, 'pmem', '--pmem'],
      [{ devices: [] }, 'devices', '--device'],
      [{ user_devices: [] }, 'user_devices', '--user-device'],
      [{ vdpa: [] }, 'vdpa', '--vdpa'],
      [{ vsock: { ...pci, cid: 3, socket: '/v' } }, 'vsock', '--vsock'],
      [{ numa: [] }, 'numa', '--numa'],
      [{ rtc: pci }, 'rtc', '--rtc'],
      [{ pci_segments: [] }, 'pci_segments', '--pci-segment'],
      [{ platform: { num_pci_segments: 1, iommu_address_width_bits: 64, iommufd: false, vfio_p2p_dma: true } }, 'platform', '--platform'],
      [{ tpm: { socket: '/t' } }, 'tpm', '--tpm'],
      [{ landlock_rules: [] }, 'landlock_rules', '--landlock-rules'],
      [{ iommu: true }, 'iommu', 'iommu=on'],
      [{ watchdog: true }, 'watchdog', '--watchdog'],
      [{ pvpanic: true }, 'pvpanic', '--pvpanic'],
      [{ landlock_enable: true }, 'landlock_enable', '--landlock'],
      [{ debug_console: { mode: 'Tty' } }, 'debug_console.mode', '--debug-console'],
    ];
    for (const [patch, field, option] of cases) {
      unsupported(() => checkSupported(base(patch), NOTHING_EXPLICIT), field, `${option} is not supported by Nimbus yet [${field}]`);
    }
  });
});

describe('checkVmmSupported', () => {
  const defaults: VmmOptions = { verbosity: 0, noShutdown: false };

  it('accepts -v and --log-file', () => {
    checkVmmSupported({ ...defaults, verbosity: 3, logFile: '/tmp/log' });
  });

  it('rejects the VMM options that are not wired yet', () => {
    checkVmmSupported({ ...defaults, apiSocket: { path: '/tmp/api' } });
    checkVmmSupported({ ...defaults, eventMonitor: { fd: 3 } });
    unsupported(() => checkVmmSupported({ ...defaults, logFormat: '{msg}' }), 'logFormat');
    unsupported(() => checkVmmSupported({ ...defaults, seccomp: 'true' }), 'seccomp');
    checkVmmSupported({ ...defaults, seccomp: 'false', noShutdown: true });
    unsupported(
      () => checkVmmSupported({ ...defaults, restore: { source_url: 'file:///s', prefault: false, memory_restore_mode: 'Copy', resume: false, zone_updates: [] } }),
      'restore',
    );
  });
});

describe('SUPPORTED_FEATURES', () => {
  it('names the implemented options', () => {
    assert.deepEqual(
      SUPPORTED_FEATURES.map((feature) => feature.option),
      ['--kernel', '--firmware', '--initramfs', '--cmdline', '--cpus', '--memory', '--serial', '--console', '--disk', '--rng', '-v', '--log-file', '--seccomp', '--no-shutdown', '--event-monitor', '--api-socket'],
    );
  });
});
