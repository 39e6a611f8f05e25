/**
 * The VMM's state machine: action errors and their codes (over the fake hypervisor, no boot), and a real boot of the
 * report test guest on /dev/kvm through vm.create + vm.boot, ending with the guest's power-off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHypervisor } from '../hypervisor/fake/fake-hypervisor.ts';
import { KvmHypervisor } from '../hypervisor/kvm/kvm-hypervisor.ts';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import { silentLogger } from '../util/logger.ts';
import { buildGuest } from '../../test/guests/build.ts';
import { parseDisk } from '../cli/device-option-parsers.ts';
import type { VmmAction } from './actions.ts';
import { defaultVmConfig } from './config/defaults.ts';
import type { VmConfig } from './config/vm-config.ts';
import { Vmm } from './vmm.ts';

function makeVmm(hypervisor: Hypervisor = new FakeHypervisor()) {
  const events: string[] = [];
  const exits: number[] = [];
  const vmm = new Vmm({
    hypervisor,
    version: '1.2.3',
    logger: silentLogger,
    logLevel: 'warn',
    logFd: 2,
    startTime: process.hrtime.bigint(),
    events: { emit: (source, event) => events.push(`${source}/${event}`) },
    openSerialOutput: () => undefined,
    closeSerialOutput: () => {},
    noShutdown: false,
    onExit: (status) => exits.push(status),
  });
  return { vmm, events, exits };
}

function create(config: VmConfig): VmmAction {
  return { kind: 'vm.create', config, explicitFields: new Set(['payload']), fds: [] };
}

test('actions before a VM exists, and invalid transitions, fail with the documented codes', async () => {
  const { vmm } = makeVmm();
  await assert.rejects(vmm.handle({ kind: 'vm.info' }), { code: 'VM_NOT_CREATED' });
  await assert.rejects(vmm.handle({ kind: 'vm.boot' }), { code: 'VM_MISSING_CONFIG' });
  await assert.rejects(vmm.handle({ kind: 'vm.pause' }), { code: 'VM_NOT_CREATED' });
  await assert.rejects(vmm.handle({ kind: 'vm.reboot' }), { code: 'VM_NOT_CREATED' });
  assert.deepEqual(await vmm.handle({ kind: 'vm.delete' }), {}, 'delete without a VM is a no-op');

  await vmm.handle(create(defaultVmConfig({ kernel: '/boot/k' })));
  const info = (await vmm.handle({ kind: 'vm.info' })).body as { state: string; device_tree?: unknown };
  assert.equal(info.state, 'Created');
  assert.equal(info.device_tree, undefined);
  await assert.rejects(vmm.handle(create(defaultVmConfig({ kernel: '/boot/k' }))), { code: 'VM_ALREADY_CREATED' });
  for (const kind of ['vm.pause', 'vm.resume', 'vm.shutdown', 'vm.reboot', 'vm.counters', 'vm.nmi'] as const) {
    await assert.rejects(vmm.handle({ kind }), { code: 'INVALID_STATE', message: new RegExp(`${kind}: the VM is not booted`) });
  }
});

test('vm.create validates the config and rejects features Nimbus has not built', async () => {
  const { vmm } = makeVmm();
  const bad = defaultVmConfig({ kernel: '/boot/k' });
  bad.cpus.boot_vcpus = 4;
  bad.cpus.max_vcpus = 2;
  await assert.rejects(vmm.handle(create(bad)), { code: 'CPUS_MAX_LOWER_THAN_BOOT' });
  const withDisk = defaultVmConfig({ kernel: '/boot/k' });
  withDisk.disks = [parseDisk('path=/tmp/disk.img,direct=on')];
  await assert.rejects(vmm.handle({ kind: 'vm.create', config: withDisk, explicitFields: new Set(['payload', 'disks']), fds: [] }), { code: 'UNSUPPORTED', message: /not supported by Nimbus yet/ });
  await assert.rejects(vmm.handle({ kind: 'vm.info' }), { code: 'VM_NOT_CREATED' }, 'a refused create stores nothing');
});

test('endpoints of features not built yet answer NOT_IMPLEMENTED naming the feature; ping and vmm.shutdown work', async () => {
  const { vmm, events, exits } = makeVmm();
  await assert.rejects(vmm.handle({ kind: 'vm.snapshot', body: { destination_url: 'file:///tmp' } }), { code: 'NOT_IMPLEMENTED', message: /snapshots/ });
  await assert.rejects(vmm.handle({ kind: 'vm.resize', body: { desired_vcpus: 2 } }), { code: 'NOT_IMPLEMENTED', message: /hotplug/ });
  const ping = (await vmm.handle({ kind: 'vmm.ping' })).body as { version: string; pid: number };
  assert.deepEqual([ping.version, ping.pid], ['1.2.3', process.pid]);
  await vmm.handle({ kind: 'vmm.shutdown' });
  assert.deepEqual(exits, [], 'the exit waits until the answer is out');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(exits, [0]);
  assert.deepEqual(events, ['vmm/starting', 'vmm/shutdown']);
});

test('on /dev/kvm: create + boot runs the guest; its power-off shuts down, deletes and exits the VMM', async () => {
  const kernel = await buildGuest('report');
  const hypervisor = KvmHypervisor.open();
  try {
    const { vmm, events, exits } = makeVmm(hypervisor);
    const config = defaultVmConfig({ kernel });
    config.memory.size = 128 << 20;
    config.serial.mode = 'Null';
    await vmm.handle(create(config));
    await vmm.handle({ kind: 'vm.boot' });
    await assert.rejects(vmm.handle({ kind: 'vm.boot' }), { code: 'VM_ALREADY_CREATED' });
    while (exits.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(exits, [0]);
    assert.deepEqual(events, ['vmm/starting', 'vm/booting', 'vm/booted', 'vm/shutdown', 'vm/deleted', 'vmm/shutdown']);
    await assert.rejects(vmm.handle({ kind: 'vm.info' }), { code: 'VM_NOT_CREATED' });
  } finally {
    hypervisor.close();
  }
});
