/** Unit tests of the vCPU run loop over the fake hypervisor. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, type BusDevice } from '../bus/bus.ts';
import { FakeVcpu } from '../hypervisor/fake/fake-hypervisor.ts';
import { VcpuControl, VCPU_COMMAND, VCPU_STATE } from './vcpu-control.ts';
import { runVcpuLoop, type VcpuStopReason } from './vcpu-loop.ts';

class RecordingDevice implements BusDevice {
  writes: number[][] = [];
  readValue = 0x5a;

  read(_offset: number, data: Uint8Array): void {
    data.fill(this.readValue);
  }

  write(offset: number, data: Uint8Array): void {
    this.writes.push([offset, ...data]);
  }
}

function setup(): { vcpu: FakeVcpu; control: VcpuControl; pio: Bus; mmio: Bus; device: RecordingDevice } {
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const device = new RecordingDevice();
  pio.insert(0x3f8, 8, 'dev', device);
  mmio.insert(0xd0000000, 0x1000, 'mmio-dev', device);
  return { vcpu: new FakeVcpu(0), control: new VcpuControl(), pio, mmio, device };
}

test('port and MMIO exits reach the devices, rep outs element by element, reads fill the exit data', () => {
  const { vcpu, control, pio, mmio, device } = setup();
  const inData = new Uint8Array(1);
  const mmioData = new Uint8Array(4);
  vcpu.script.push(
    { kind: 'io-out', port: 0x3f8, size: 1, count: 3, data: new Uint8Array([0x41, 0x42, 0x43]) },
    { kind: 'io-in', port: 0x3fd, size: 1, count: 1, data: inData },
    { kind: 'mmio-write', address: 0xd0000010, data: new Uint8Array([1, 2, 3, 4]) },
    { kind: 'mmio-read', address: 0xd0000020, data: mmioData },
    { kind: 'io-out', port: 0x70, size: 1, count: 1, data: new Uint8Array([9]) }, // unclaimed port: dropped
  );
  const reason = runVcpuLoop({ vcpu, control, pio, mmio, pendingStop: () => undefined });
  assert.deepEqual(reason, { kind: 'triple-fault' }); // the fake's script end is a shutdown exit
  assert.deepEqual(device.writes, [[0, 0x41], [0, 0x42], [0, 0x43], [0x10, 1, 2, 3, 4]]);
  assert.deepEqual([...inData], [0x5a]);
  assert.deepEqual([...mmioData], [0x5a, 0x5a, 0x5a, 0x5a]);
  assert.equal(control.state, VCPU_STATE.EXITED);
});

test('a device-requested stop ends the loop without re-entering the guest', () => {
  const { vcpu, control, pio, mmio } = setup();
  vcpu.script.push({ kind: 'io-out', port: 0x3f8, size: 1, count: 1, data: new Uint8Array([1]) }, { kind: 'hlt' });
  let pending: VcpuStopReason | undefined;
  pio.insert(0x600, 1, 'pm', { read: () => {}, write: () => (pending = { kind: 'guest-shutdown' }) });
  vcpu.script.unshift({ kind: 'io-out', port: 0x600, size: 1, count: 1, data: new Uint8Array([0x34]) });
  const reason = runVcpuLoop({ vcpu, control, pio, mmio, pendingStop: () => pending });
  assert.deepEqual(reason, { kind: 'guest-shutdown' });
  assert.equal(vcpu.runs, 1);
});

test('a kick with STOP ends the loop; internal errors and failed entries become error reasons', () => {
  const { vcpu, control, pio, mmio } = setup();
  control.command = VCPU_COMMAND.STOP;
  vcpu.requestExit();
  assert.deepEqual(runVcpuLoop({ vcpu, control, pio, mmio, pendingStop: () => undefined }), { kind: 'stopped' });
  assert.equal(vcpu.exitRequested, false, 'the loop clears the exit request');

  const other = setup();
  other.vcpu.script.push({ kind: 'internal-error', suberror: 1, detail: [0x10n] });
  const reason = runVcpuLoop({ ...other, pendingStop: () => undefined });
  assert.equal(reason.kind, 'error');
  assert.match((reason as { message: string }).message, /suberror 1, data 0x10/);
});

test('system events map to guest shutdown and reset', () => {
  for (const [event, kind] of [['shutdown', 'guest-shutdown'], ['reset', 'guest-reset']] as const) {
    const { vcpu, control, pio, mmio } = setup();
    vcpu.script.push({ kind: 'system-event', event, code: 0 });
    assert.equal(runVcpuLoop({ vcpu, control, pio, mmio, pendingStop: () => undefined }).kind, kind);
  }
});

test('an NMI requested through the mailbox is injected by the vCPU thread when it is kicked out', () => {
  const { vcpu, control, pio, mmio } = setup();
  control.requestNmi();
  vcpu.requestExit(); // the kick: the next run returns interrupted
  vcpu.script.push({ kind: 'shutdown' });
  const runs: string[] = [];
  const original = vcpu.run.bind(vcpu);
  vcpu.run = () => {
    const exit = original();
    runs.push(exit.kind);
    return exit;
  };
  runVcpuLoop({ vcpu, control, pio, mmio, pendingStop: () => undefined });
  assert.deepEqual(runs, ['interrupted', 'shutdown']);
  assert.equal(vcpu.nmis, 1);
  assert.equal(control.takeNmiRequest(), false, 'the request is consumed');
});
