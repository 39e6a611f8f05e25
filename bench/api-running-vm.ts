/**
 * The API under load against a running VM: starts nimbus with --api-socket, boots the lifecycle guest (ticking every
 * 20 ms on 2 vCPUs), runs N concurrent keep-alive clients issuing vm.info/vmm.ping for D seconds, then shuts the VMM
 * down through the API.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuest } from '../test/guests/build.ts';
import { apiRequest } from '../test/helpers/api-client.ts';
import { NIMBUS_BIN } from '../test/helpers/nimbus-process.ts';
import { runApiLoad, type ApiLoadResult } from './api-load.ts';

export async function apiLoadOnRunningVm(options: { clients: number; durationSeconds: number }): Promise<ApiLoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-api-bench-'));
  const socket = join(dir, 'api.sock');
  const vmm = spawn(process.execPath, [NIMBUS_BIN, '--api-socket', `path=${socket}`, '--seccomp', 'false'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => vmm.on('exit', resolve));
  try {
    for (let i = 0; i < 500 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 10));
    const kernel = await buildGuest('lifecycle');
    const config = { payload: { kernel, cmdline: 'nimbus.test=ticker' }, cpus: { boot_vcpus: 2, max_vcpus: 2 }, serial: { mode: 'Null' }, console: { mode: 'Off' } };
    for (const [path, body] of [['vm.create', config], ['vm.boot', undefined]] as const) {
      const answer = await apiRequest(socket, 'PUT', `/api/v1/${path}`, body);
      if (answer.status !== 204) throw new Error(`${path} answered ${answer.status}: ${answer.raw}`);
    }
    return await runApiLoad({ socketPath: socket, ...options });
  } finally {
    await apiRequest(socket, 'PUT', '/api/v1/vmm.shutdown').catch(() => vmm.kill('SIGKILL'));
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
