/** The pure VM plan: RAM split around the hole, APIC IDs from the topology, address width, PCI windows and devices. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDisk } from '../cli/device-option-parsers.ts';
import { FakeHypervisor } from '../hypervisor/fake/fake-hypervisor.ts';
import { defaultVmConfig } from './config/defaults.ts';
import { hostPhysBits, planMachine } from './machine-plan.ts';

const GiB = 2 ** 30;
const cpuid = [...new FakeHypervisor().cpuid, { function: 0x80000008, index: 0, flags: 0, eax: 0x3030, ebx: 0, ecx: 0, edx: 0 }];

function config(overrides: { memory?: number; boot?: number; max?: number; topology?: [number, number, number, number]; maxPhysBits?: number }) {
  const c = defaultVmConfig({ kernel: '/k' });
  if (overrides.memory !== undefined) c.memory.size = overrides.memory;
  c.cpus.boot_vcpus = overrides.boot ?? 1;
  c.cpus.max_vcpus = overrides.max ?? c.cpus.boot_vcpus;
  if (overrides.maxPhysBits !== undefined) c.cpus.max_phys_bits = overrides.maxPhysBits;
  if (overrides.topology) {
    const [threads_per_core, cores_per_die, dies_per_package, packages] = overrides.topology;
    c.cpus.topology = { threads_per_core, cores_per_die, dies_per_package, packages };
  }
  return c;
}

test('memory above 3 GiB continues at 4 GiB and is reported separately for CMOS', () => {
  const plan = planMachine(config({ memory: 5 * GiB }), cpuid);
  assert.deepEqual(plan.ram, [{ guestBase: 0, size: 3 * GiB }, { guestBase: 4 * GiB, size: 2 * GiB }]);
  assert.deepEqual([plan.memoryBelow4G, plan.memoryAbove4G], [3 * GiB, 2 * GiB]);
  const window = plan.acpi.pciSegments[0]!.mmio64;
  assert.equal(window.base, 6 * GiB, 'the 64-bit PCI window starts after RAM, 1 GiB aligned');
  assert.equal(window.base + window.size, 2 ** 46 - 64 * 1024 - (1 << 20), 'and ends below the platform area');
});

test('APIC IDs follow the topology; boot and max CPUs reach the ACPI config', () => {
  const plan = planMachine(config({ boot: 2, max: 6, topology: [2, 3, 1, 1] }), cpuid);
  assert.deepEqual(plan.apicIds, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([plan.acpi.bootCpus, plan.acpi.maxCpus], [2, 6]);
  const packed = planMachine(config({ boot: 1, max: 6, topology: [1, 3, 1, 2] }), cpuid);
  assert.deepEqual(packed.apicIds, [0, 1, 2, 4, 5, 6], 'core ids are 2 bits wide, packages start at bit 2');
  assert.throws(() => planMachine(config({ boot: 1, max: 4, topology: [2, 3, 1, 1] }), cpuid), { code: 'MISMATCH' });
});

test('physical address bits are the smaller of host and max_phys_bits', () => {
  assert.equal(hostPhysBits(cpuid), 48);
  assert.equal(planMachine(config({}), cpuid).physBits, 46);
  assert.equal(planMachine(config({ maxPhysBits: 40 }), cpuid).physBits, 40);
  assert.equal(hostPhysBits([]), 36);
});

test('virtio-rng is always planned, at the lowest free slot or the one pci_device_id names, with its source', () => {
  const plan = planMachine(config({}), cpuid);
  assert.deepEqual(plan.pciDevices, [{ id: '__rng', slot: 1, device: { kind: 'rng', source: '/dev/urandom' } }]);
  const named = config({});
  named.rng = { ...named.rng, id: 'entropy', src: '/dev/random', pci_device_id: 7 };
  assert.deepEqual(planMachine(named, cpuid).pciDevices, [{ id: 'entropy', slot: 7, device: { kind: 'rng', source: '/dev/random' } }]);
  const hostBridgeSlot = config({});
  hostBridgeSlot.rng = { ...hostBridgeSlot.rng, pci_device_id: 0 };
  assert.throws(() => planMachine(hostBridgeSlot, cpuid), { code: 'SLOT_IN_USE' });
});

test('disks come before the rng, with upstream automatic ids `_disk<N>` that skip ids in use', () => {
  const c = config({});
  c.disks = [
    parseDisk('path=/a.raw'),
    parseDisk('path=/b.raw,id=_disk1,readonly=on,num_queues=2,queue_size=64,serial=S1'),
    parseDisk('path=/c.raw,pci_device_id=2'),
    parseDisk('path=/d.raw,image_type=raw'),
  ];
  const disk = (path: string, extra: object = {}) => ({ kind: 'disk', path, readonly: false, numQueues: 1, queueSize: 128, detectFormat: true, ...extra });
  assert.deepEqual(planMachine(c, cpuid).pciDevices, [
    { id: '_disk0', slot: 1, device: disk('/a.raw') },
    { id: '_disk1', slot: 3, device: disk('/b.raw', { readonly: true, numQueues: 2, queueSize: 64, serial: 'S1' }) },
    { id: '_disk2', slot: 2, device: disk('/c.raw') },
    { id: '_disk3', slot: 4, device: disk('/d.raw', { detectFormat: false }) },
    { id: '__rng', slot: 5, device: { kind: 'rng', source: '/dev/urandom' } },
  ]);
});
