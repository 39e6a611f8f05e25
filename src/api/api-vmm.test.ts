/**
 * The API in front of the real VMM (over the fake hypervisor, nothing booted): JSON configs go through the same
 * validation as the CLI's, "not supported yet" is a 501 with the CLI's message, and the VMM's own answers (vm.info,
 * vmm.ping) match their schemas.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest } from '../../test/helpers/api-client.ts';
import { FakeHypervisor } from '../hypervisor/fake/fake-hypervisor.ts';
import { silentLogger } from '../util/logger.ts';
import { Vmm } from '../vmm/vmm.ts';
import { ApiServer } from './api-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'nimbus-api-vmm-'));
const socketPath = join(dir, 'api.sock');
let server: ApiServer;

before(async () => {
  const vmm = new Vmm({
    hypervisor: new FakeHypervisor(),
    version: '0.1.0',
    logger: silentLogger,
    logLevel: 'warn',
    logFd: 2,
    startTime: process.hrtime.bigint(),
    events: { emit: () => {} },
    openSerialOutput: () => undefined,
    closeSerialOutput: () => {},
    noShutdown: false,
    onExit: () => {},
  });
  server = await ApiServer.start({ socket: { path: socketPath }, control: vmm, logger: silentLogger });
});

after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a VM created over the API is reported by vm.info as the normalised config', async () => {
  assert.equal((await apiRequest(socketPath, 'GET', 'vm.info')).status, 404);
  const ping = await apiRequest(socketPath, 'GET', 'vmm.ping');
  assert.equal(ping.status, 200);
  assert.equal((ping.body as { version: string }).version, '0.1.0');

  const unsupported = await apiRequest(socketPath, 'PUT', 'vm.create', { payload: { kernel: '/k' }, rng: { src: '/dev/urandom', iommu: true } });
  assert.equal(unsupported.status, 501);
  assert.deepEqual(unsupported.body, ['--rng iommu=on is not supported by Nimbus yet (no virtual IOMMU yet) [rng.iommu]']);
  const invalid = await apiRequest(socketPath, 'PUT', 'vm.create', { payload: { kernel: '/k' }, cpus: { boot_vcpus: 4, max_vcpus: 2 } });
  assert.equal(invalid.status, 400);
  assert.match((invalid.body as string[])[0]!, /\[cpus\.max_vcpus\]$/);

  const created = await apiRequest(socketPath, 'PUT', 'vm.create', { payload: { kernel: '/k' }, cpus: { boot_vcpus: 2, max_vcpus: 2 }, console: { mode: 'Off' } });
  assert.equal(created.status, 204);
  assert.equal((await apiRequest(socketPath, 'PUT', 'vm.create', { payload: { kernel: '/k' } })).status, 409);
  const info = await apiRequest(socketPath, 'GET', 'vm.info');
  assert.equal(info.status, 200);
  const body = info.body as { state: string; config: { cpus: { boot_vcpus: number; nested: boolean }; console: { mode: string } } };
  assert.equal(body.state, 'Created');
  assert.equal(body.config.cpus.boot_vcpus, 2);
  assert.equal(body.config.cpus.nested, true);
  assert.equal(body.config.console.mode, 'Off');
  assert.equal((await apiRequest(socketPath, 'PUT', 'vm.pause')).status, 405);
  assert.equal((await apiRequest(socketPath, 'PUT', 'vm.add-disk', { path: '/d.img' })).status, 501);
  assert.equal((await apiRequest(socketPath, 'PUT', 'vm.delete')).status, 204);
  assert.equal((await apiRequest(socketPath, 'GET', 'vm.info')).status, 404);
});
