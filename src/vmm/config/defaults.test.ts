/** Tests that the configuration defaults equal Cloud Hypervisor's (vm_config.rs Default impls, CLI default strings). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultVmConfig } from './defaults.ts';

describe('defaultVmConfig', () => {
  it('matches upstream field by field', () => {
    assert.deepEqual(defaultVmConfig({ kernel: '/boot/vmlinux' }), {
      cpus: {
        boot_vcpus: 1,
        max_vcpus: 1,
        kvm_hyperv: false,
        max_phys_bits: 46,
        features: { amx: false },
        nested: true,
        core_scheduling: 'Vm',
        profile: 'Host',
      },
      memory: {
        size: 512 * 1024 * 1024,
        mergeable: false,
        hotplug_method: 'Acpi',
        shared: false,
        hugepages: false,
        prefault: false,
        reserve: false,
        thp: true,
      },
      payload: { kernel: '/boot/vmlinux' },
      rng: { src: '/dev/urandom', iommu: false, pci_segment: 0 },
      serial: { mode: 'Null' },
      console: { mode: 'Tty', iommu: false, pci_segment: 0 },
      debug_console: { mode: 'Off', iobase: 0xe9 },
      iommu: false,
      watchdog: false,
      pvpanic: false,
      landlock_enable: false,
    });
  });

  it('returns fresh objects', () => {
    const first = defaultVmConfig({ kernel: 'k' });
    first.cpus.boot_vcpus = 8;
    assert.equal(defaultVmConfig({ kernel: 'k' }).cpus.boot_vcpus, 1);
  });
});
