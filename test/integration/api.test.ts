/**
 * The REST API on the real /dev/kvm: a VM driven through its whole life (create, boot, info, pause, resume, reboot,
 * power button, shutdown, boot again, delete, vmm.shutdown) by raw HTTP and by nimbus-remote, with the lifecycle
 * guest's 20 ms ticks showing that a paused guest makes no progress and a resumed one does. The event monitor records
 * the same life. Bad requests get 4xx/501 and leave the VMM serving.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildGuest } from '../guests/build.ts';
import { apiRequest } from '../helpers/api-client.ts';
import { ConsoleSession } from '../helpers/console-session.ts';
import { NIMBUS_BIN } from '../helpers/nimbus-process.ts';

const REMOTE_BIN = fileURLToPath(new URL('../../../bin/nimbus-remote', import.meta.url));
const SESSION_LIMIT_MS = 60_000;
const TICK = /^lifecycle\.tick=(\d+)$/gm;

let work = '';
let lifecycleElf = '';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'nimbus-api-'));
  lifecycleElf = await buildGuest('lifecycle');
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

function vmConfig(): object {
  return {
    payload: { kernel: lifecycleElf, cmdline: 'nimbus.test=ticker' },
    cpus: { boot_vcpus: 2, max_vcpus: 2 },
    memory: { size: 256 << 20 },
    serial: { mode: 'Tty' },
    console: { mode: 'Off' },
  };
}

function startVmm(name: string, extra: readonly string[] = []): { session: ConsoleSession; socket: string } {
  const socket = join(work, `${name}.sock`);
  const args = [NIMBUS_BIN, '--api-socket', `path=${socket}`, '--seccomp', 'false', '-v', ...extra];
  return { session: new ConsoleSession(process.execPath, args, SESSION_LIMIT_MS), socket };
}

async function waitForSocket(socket: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(existsSync(socket), 'the API socket appeared');
}

function ticks(session: ConsoleSession): number[] {
  return [...session.output('stdout').matchAll(TICK)].map((m) => Number(m[1]));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Asserts the guest makes no progress over `ms` (paused) or does (running). */
async function assertProgress(session: ConsoleSession, running: boolean, ms = 400): Promise<void> {
  const before = ticks(session).length;
  await sleep(ms);
  const after = ticks(session).length;
  if (running) assert.ok(after > before, `the guest ticks while running (${before} -> ${after})`);
  else assert.equal(after, before, 'no tick while paused');
}

describe('VM lifecycle over the API', () => {
  test('raw HTTP: create, boot, pause, resume, reboot, power button, shutdown, boot again, delete, vmm.shutdown', async () => {
    const events = join(work, 'events.json');
    const { session, socket } = startVmm('http', ['--event-monitor', `path=${events}`]);
    try {
      await waitForSocket(socket);
      assert.equal(statSync(socket).mode & 0o777, 0o600, 'the socket is not accessible to others');
      const call = (method: string, path: string, body?: unknown) => apiRequest(socket, method, `/api/v1/${path}`, body);

      assert.equal((await call('GET', 'vmm.ping')).status, 200);
      assert.equal((await call('GET', 'vm.info')).status, 404, 'no VM yet');
      assert.equal((await call('PUT', 'vm.boot')).status, 404, 'nothing to boot');
      assert.equal((await call('PUT', 'vm.create', vmConfig())).status, 204);
      assert.equal((await call('PUT', 'vm.create', vmConfig())).status, 409, 'create twice');
      const created = await call('GET', 'vm.info');
      assert.equal((created.body as { state: string }).state, 'Created');
      assert.equal((await call('PUT', 'vm.pause')).status, 405, 'pause before boot');

      assert.equal((await call('PUT', 'vm.boot')).status, 204);
      await session.waitFor('stdout', TICK, { times: 3, timeoutMs: 10_000 });
      const info = (await call('GET', 'vm.info')).body as { state: string; config: { cpus: { boot_vcpus: number } }; device_tree: Record<string, unknown> };
      assert.equal(info.state, 'Running');
      assert.equal(info.config.cpus.boot_vcpus, 2);
      assert.ok('__serial' in info.device_tree, 'the device tree lists the serial port');

      assert.equal((await call('PUT', 'vm.pause')).status, 204);
      assert.equal(((await call('GET', 'vm.info')).body as { state: string }).state, 'Paused');
      await assertProgress(session, false);
      assert.equal((await call('PUT', 'vm.pause')).status, 405, 'pause twice');
      assert.equal((await call('PUT', 'vm.resume')).status, 204);
      await assertProgress(session, true);

      assert.equal((await call('PUT', 'vm.reboot')).status, 204);
      await session.waitFor('stdout', /^lifecycle\.boot=1$/m, { times: 2, timeoutMs: 10_000 });
      assert.equal((await call('PUT', 'vm.power-button')).status, 204);
      assert.deepEqual((await call('GET', 'vm.counters')).body, {});

      assert.equal((await call('PUT', 'vm.shutdown')).status, 204);
      assert.equal(((await call('GET', 'vm.info')).body as { state: string }).state, 'Shutdown');
      await assertProgress(session, false);
      assert.equal((await call('PUT', 'vm.boot')).status, 204, 'a shut-down VM boots again from its config');
      await session.waitFor('stdout', /^lifecycle\.boot=1$/m, { times: 3, timeoutMs: 10_000 });
      assert.equal((await call('PUT', 'vm.delete')).status, 204);
      assert.equal((await call('GET', 'vm.info')).status, 404);

      assert.equal((await call('PUT', 'vmm.shutdown')).status, 204);
      assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
      assert.ok(!existsSync(socket), 'the socket file is removed');

      const names = (await readFile(events, 'utf8')).split('\n\n').filter(Boolean).map((text) => {
        const event = JSON.parse(text) as { source: string; event: string };
        return `${event.source}/${event.event}`;
      });
      assert.deepEqual(names, [
        'vmm/starting',
        'vm/booting', 'vm/booted',
        'vm/pausing', 'vm/paused', 'vm/resuming', 'vm/resumed',
        'vm/rebooting', 'vm/rebooted',
        'vm/shutdown',
        'vm/booting', 'vm/booted',
        'vm/shutdown', 'vm/deleted',
        'vmm/shutdown',
      ]);
    } finally {
      await session.close();
    }
  });

  test('nimbus-remote: the same life, with its output and exit statuses', async () => {
    const { session, socket } = startVmm('remote');
    const remote = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [REMOTE_BIN, '--api-socket', socket, ...args], { encoding: 'utf8' }, (error, stdout, stderr) =>
          resolve({ status: error ? Number(error.code) : 0, stdout, stderr }),
        );
      });
    try {
      await waitForSocket(socket);
      const configPath = join(work, 'vm.json');
      await writeFile(configPath, JSON.stringify(vmConfig()));
      assert.equal(JSON.parse((await remote('ping')).stdout).version, '0.1.0');
      assert.equal((await remote('create', configPath)).status, 0);
      assert.equal((await remote('boot')).status, 0);
      await session.waitFor('stdout', TICK, { times: 3, timeoutMs: 10_000 });
      assert.equal(JSON.parse((await remote('info')).stdout).state, 'Running');
      assert.equal((await remote('pause')).status, 0);
      await assertProgress(session, false);
      const again = await remote('pause');
      assert.equal(again.status, 1);
      assert.match(again.stderr, /MethodNotAllowed[\s\S]*the VM is Paused, not Running/);
      assert.equal((await remote('resume')).status, 0);
      await assertProgress(session, true);
      assert.equal((await remote('reboot')).status, 0);
      assert.equal((await remote('shutdown')).status, 0);
      assert.equal((await remote('delete')).status, 0);
      const missing = await remote('info');
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /NotFound/);
      assert.equal((await remote('shutdown-vmm')).status, 0);
      assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
    } finally {
      await session.close();
    }
  });

  test('bad requests are answered with 4xx/501 and the VMM keeps serving', async () => {
    const { session, socket } = startVmm('errors');
    try {
      await waitForSocket(socket);
      const call = (method: string, path: string, body?: unknown) => apiRequest(socket, method, path, body);
      assert.equal((await call('PUT', '/api/v1/vm.create', '{"payload": ')).status, 400, 'bad JSON');
      assert.equal((await call('PUT', '/api/v1/vm.create', { payload: { kernel: '/k' }, bogus: 1 })).status, 400, 'unknown field');
      assert.equal((await call('PUT', '/api/v1/vm.create', { payload: { kernel: 7 } })).status, 400, 'wrong type');
      assert.equal((await call('GET', '/api/v1/vm.boot')).status, 405, 'wrong method');
      assert.equal((await call('GET', '/api/v1/nope')).status, 404, 'unknown path');
      const snapshot = await call('PUT', '/api/v1/vm.snapshot', { destination_url: 'file:///tmp' });
      assert.equal(snapshot.status, 501);
      assert.match(JSON.stringify(snapshot.body), /snapshots.*not supported by Nimbus yet/);
      const disk = await call('PUT', '/api/v1/vm.create', { payload: { kernel: lifecycleElf }, disks: [{ path: '/tmp/x.img', direct: true }] });
      assert.equal(disk.status, 501, 'a config with a feature not built yet');
      assert.equal((await call('GET', '/api/v1/vmm.ping')).status, 200, 'still serving');
      assert.equal((await call('PUT', '/api/v1/vmm.shutdown')).status, 204);
      assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
    } finally {
      await session.close();
    }
  });
});
