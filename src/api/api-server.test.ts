/**
 * Contract tests of the REST API server over its real Unix socket and worker, against a fake VmmControl: every
 * endpoint routed, the spec's and ch-remote's request bodies accepted, every response body checked against its
 * schema, bad requests answered 4xx while the server keeps serving, keep-alive, many clients, SCM_RIGHTS, error
 * statuses, the socket's mode and an inherited listening socket (`--api-socket fd=N`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, fstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient, apiRequest, type ApiResponse } from '../../test/helpers/api-client.ts';
import { EventFd } from '../host/eventfd.ts';
import { native } from '../host/native.ts';
import { closeDescriptor, socketSyscalls } from '../host/unix-socket.ts';
import type { Logger } from '../util/logger.ts';
import { type ActionResult, type VmInfo, type VmmAction, VmmActionError, type VmmControl } from '../vmm/actions.ts';
import { ConfigError } from '../vmm/config/config-error.ts';
import { vmConfigFromJson } from '../vmm/config/from-json.ts';
import { ApiServer } from './api-server.ts';
import { ROUTES } from './routes.ts';
import type { ApiValidators } from './body-schemas.ts';
import { loadApiValidators } from './validators.ts';

/** Request bodies as the spec's documentation (api.md) and the tools built for upstream send them. */
const EXAMPLES: Record<string, unknown[]> = {
  'vm.create': [
    // docs/api.md, "Create a Virtual Machine"
    {
      cpus: { boot_vcpus: 4, max_vcpus: 4 },
      payload: { kernel: '/opt/clh/kernel/vmlinux-virtio-fs-virtio-iommu', cmdline: 'console=ttyS0 console=hvc0 root=/dev/vda1 rw' },
      disks: [{ path: '/opt/clh/images/focal-server-cloudimg-amd64.raw' }],
      rng: { src: '/dev/urandom' },
      net: [{ ip: '192.168.10.10', mask: '255.255.255.0', mac: '12:34:56:78:90:01' }],
    },
    // libvirt's ch driver (virCHMonitorBuildVMJson)
    {
      console: { mode: 'Pty' },
      serial: { mode: 'Pty' },
      cpus: { boot_vcpus: 2, max_vcpus: 2 },
      memory: { size: 1073741824 },
      payload: { kernel: '/boot/vmlinux', cmdline: 'console=ttyS0', initramfs: '/boot/initrd' },
      disks: [{ path: '/var/lib/images/a.img', readonly: true }],
      devices: [{ path: '/sys/bus/pci/devices/0000:01:00.0/' }],
    },
  ],
  // ch-remote's bodies: its serde structs serialised (hotplug.md, live_migration.md, snapshot_restore.md commands).
  'vm.resize': [{ desired_vcpus: 8, desired_ram: null, desired_balloon: null }, { desired_vcpus: null, desired_ram: 3221225472, desired_balloon: null }],
  'vm.resize-disk': [{ id: '_disk0', desired_size: 10737418240 }],
  'vm.resize-zone': [{ id: 'mem0', desired_ram: 1073741824 }],
  'vm.add-device': [{ path: '/sys/bus/pci/devices/0000:01:00.0/', pci_segment: 0, x_exclude_mmap_bars: [] }],
  'vm.add-disk': [
    {
      path: '/foo/bar/cloud.img', readonly: false, direct: false, num_queues: 1, queue_size: 128, vhost_user: false,
      disable_io_uring: false, disable_aio: false, backing_files: false, sparse: true, image_type: 'Unknown',
      lock_granularity: 'ByteRange', pci_segment: 0,
    },
  ],
  'vm.add-fs': [{ tag: 'myfs', socket: '/foo/bar/virtiofs.sock', num_queues: 1, queue_size: 1024, pci_segment: 0 }],
  'vm.add-generic-vhost-user': [{ socket: '/tmp/gvu.sock', queue_sizes: [256, 256], device_type: 26, pci_segment: 0 }],
  'vm.add-pmem': [{ file: '/foo/bar.cloud.img', discard_writes: false, pci_segment: 0 }],
  'vm.add-net': [
    {
      tap: 'chtap0', mac: '12:34:56:78:90:ab', num_queues: 2, queue_size: 256, vhost_user: false, vhost_mode: 'Client',
      offload_tso: true, offload_ufo: true, offload_csum: true, pci_segment: 0,
    },
  ],
  'vm.add-vsock': [{ cid: 3, socket: '/foo/bar/vsock.sock', pci_segment: 0 }],
  'vm.add-vdpa': [{ path: '/dev/vhost-vdpa-0', num_queues: 1, pci_segment: 0 }],
  'vm.add-user-device': [{ socket: '/tmp/vfio-user.sock', pci_segment: 0 }],
  'vm.remove-device': [{ id: '_disk0' }],
  'vm.snapshot': [{ destination_url: 'file:///tmp/snapshot' }],
  'vm.coredump': [{ destination_url: 'file:///tmp/coredump' }],
  'vm.restore': [
    {
      source_url: 'file:///tmp/snapshot', prefault: false, memory_restore_mode: 'Copy', net_fds: null, vfio_fds: null,
      iommufd_fd: null, resume: false, zone_updates: [],
    },
  ],
  'vm.receive-migration': [
    { receiver_url: 'unix:/tmp/sock', tls_dir: null, memory_mode: 'Precopy', vfio_fds: null, iommufd_fd: null, zone_updates: [] },
  ],
  'vm.send-migration': [
    {
      destination_url: 'unix:/tmp/sock', local: true, preserve_source: false, downtime_ms: 300, timeout_s: 3600,
      timeout_strategy: 'Cancel', connections: 1, tls_dir: null, memory_mode: 'Precopy',
    },
  ],
};

/** A VmInfo as the VMM reports it: a normalised config with devices of most kinds. */
const VM_INFO: VmInfo = {
  config: vmConfigFromJson({
    ...(EXAMPLES['vm.create']![0] as object),
    fs: [{ tag: 'fs0', socket: '/s' }],
    generic_vhost_user: [{ socket: '/g', queue_sizes: [64], device_type: 26 }],
    pmem: [{ file: '/p' }],
    vsock: { cid: 3, socket: '/v' },
    user_devices: [{ socket: '/u' }],
    platform: { oem_strings: ['a'] },
    net: [{ tap: 'tap0', fds: [3] }],
  }).config,
  state: 'Running',
  memory_actual_size: 536870912,
  device_tree: { _disk0: { id: '_disk0', resources: [{ PciBar: [0, 0xc0000000, 4096, 'Mmio32'] }], children: [], pci_bdf: '0000:00:05.0' } },
};

/** What the fake VMM answers for each endpoint with a response body. */
const BODIES: Partial<Record<VmmAction['kind'], unknown>> = {
  'vmm.ping': { build_version: 'v0-test', version: '0.1.0', pid: process.pid, features: ['kvm'] },
  'vm.info': VM_INFO,
  'vm.counters': { _disk0: { read_bytes: 4096, write_ops: 2 }, _net1: { rx_frames: 7 } },
};
const DEVICE_ADDED = { id: '_disk0', bdf: '0000:00:05.0' };

class FakeVmm implements VmmControl {
  readonly actions: VmmAction[] = [];
  answer: (action: VmmAction) => ActionResult | Promise<ActionResult> = (action) => {
    if (action.kind in BODIES) return { body: BODIES[action.kind] };
    return ROUTES[action.kind].response.kind === 'body-or-empty' ? { body: DEVICE_ADDED } : {};
  };

  handle(action: VmmAction): Promise<ActionResult> {
    this.actions.push(action);
    return Promise.resolve().then(() => this.answer(action));
  }

  last(): VmmAction {
    return this.actions[this.actions.length - 1]!;
  }
}

class RecordingLogger implements Logger {
  readonly lines: string[] = [];
  error(message: string): void {
    this.lines.push(`ERROR ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`WARN ${message}`);
  }
  info(): void {}
  debug(): void {}
  trace(): void {}
  enabled(): boolean {
    return true;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'nimbus-api-'));
const socketPath = join(dir, 'api.sock');
const vmm = new FakeVmm();
const logger = new RecordingLogger();
let server: ApiServer;
let validators: ApiValidators;

before(async () => {
  validators = await loadApiValidators();
  server = await ApiServer.start({ socket: { path: socketPath }, control: vmm, logger });
});

after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const request = (method: string, path: string, body?: unknown, fds?: number[]): Promise<ApiResponse> =>
  apiRequest(socketPath, method, path, body, fds);

async function assertServing(): Promise<void> {
  const ping = await request('GET', 'vmm.ping');
  assert.equal(ping.status, 200, 'the server still serves');
}

/** Eventfds open in this process (the server's doorbell among them). */
function eventFdCount(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventfd]';
    } catch {
      return false;
    }
  }).length;
}

test('every endpoint of the spec is routed to its action', async () => {
  for (const [endpoint, route] of Object.entries(ROUTES)) {
    const body = route.request === undefined ? undefined : EXAMPLES[endpoint]?.[0];
    assert.ok(route.request === undefined || body !== undefined, `an example for ${endpoint}`);
    const response = await request(route.method, endpoint, body);
    assert.ok(response.status === 200 || response.status === 204, `${endpoint}: ${response.raw}`);
    assert.equal(vmm.last().kind, endpoint);
  }
});

test('the request examples of the spec, libvirt and ch-remote are accepted and converted', async () => {
  for (const [endpoint, bodies] of Object.entries(EXAMPLES)) {
    for (const body of bodies) {
      const response = await request('PUT', endpoint, body);
      assert.ok(response.status === 200 || response.status === 204, `${endpoint} ${JSON.stringify(body)}: ${response.raw}`);
      assert.equal(vmm.last().kind, endpoint);
    }
  }
  await request('PUT', 'vm.create', EXAMPLES['vm.create']![0]);
  const create = vmm.last();
  assert.ok(create.kind === 'vm.create');
  assert.equal(create.config.cpus.boot_vcpus, 4);
  assert.equal(create.config.memory.size, 512 << 20);
  assert.equal(create.config.net?.[0]?.ip, '192.168.10.10');
  assert.equal(create.config.disks?.[0]?.queue_size, 128);
  assert.deepEqual([...create.explicitFields].sort(), ['cpus', 'disks', 'net', 'payload', 'rng']);
  await request('PUT', 'vm.send-migration', { destination_url: 'tcp:1.2.3.4:6000' });
  assert.deepEqual(vmm.last(), {
    kind: 'vm.send-migration',
    body: {
      destination_url: 'tcp:1.2.3.4:6000', local: false, downtime_ms: 300, timeout_s: 3600, timeout_strategy: 'Cancel',
      connections: 1, memory_mode: 'Precopy', preserve_source: false,
    },
  });
});

test('every response body matches its schema; a VMM answer that does not is a 500', async () => {
  for (const [endpoint, route] of Object.entries(ROUTES)) {
    if (route.response.kind === 'empty') continue;
    const response = await request(route.method, endpoint, EXAMPLES[endpoint]?.[0]);
    assert.equal(response.status, 200, endpoint);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(validators[route.response.schema](response.body), true, `${endpoint} answers a valid ${route.response.schema}`);
  }
  assert.deepEqual((await request('GET', 'vm.info')).body, JSON.parse(JSON.stringify(VM_INFO)));

  vmm.answer = () => ({});
  assert.equal((await request('PUT', 'vm.add-disk', { path: '/cold.img' })).status, 204, 'cold plug: no body');
  const missing = await request('GET', 'vm.info');
  assert.equal(missing.status, 500);
  assert.deepEqual(missing.body, ['internal error: vm.info returned no body; its response is a VmInfo']);
  vmm.answer = () => ({ body: { config: VM_INFO.config } });
  const invalid = await request('GET', 'vm.info');
  assert.equal(invalid.status, 500);
  assert.deepEqual(invalid.body, ['internal error: vm.info returned an invalid VmInfo: missing field "state"']);
  vmm.answer = () => ({ body: { unexpected: true } });
  assert.equal((await request('PUT', 'vm.boot')).status, 500);
  assert.ok(logger.lines.some((line) => line === 'ERROR vm.info returned an invalid VmInfo: missing field "state"'));
  vmm.answer = new FakeVmm().answer;
  await assertServing();
});

test('bad requests get a 4xx with a JSON array of messages, and the server keeps serving', async () => {
  const cases: [string, string, unknown, number, string][] = [
    ['PUT', 'vm.create', { payload: { kernel: '/k' }, kernel: '/k' }, 400, 'invalid VmConfig: unknown field "kernel"'],
    ['PUT', 'vm.create', { payload: { kernel: '/k' }, cpus: { boot_vcpus: '2', max_vcpus: 2 } }, 400, 'invalid VmConfig: cpus.boot_vcpus must be an integer'],
    ['PUT', 'vm.add-disk', { path: 5 }, 400, 'invalid DiskConfig: path must be a string'],
    ['PUT', 'vm.resize', '{"desired_vcpus": 2', 400, 'the request body is not valid JSON: '],
    ['PUT', 'vm.create', undefined, 400, 'vm.create needs a JSON request body (VmConfig)'],
    ['PUT', 'vm.info', undefined, 405, 'vm.info takes GET, not PUT'],
    ['GET', 'vm.boot', undefined, 405, 'vm.boot takes PUT, not GET'],
    ['GET', 'vm.nonsense', undefined, 404, 'no such endpoint: /api/v1/vm.nonsense'],
    ['GET', '/v1/vmm.ping', undefined, 404, 'no such endpoint: /v1/vmm.ping'],
  ];
  const client = ApiClient.connect(socketPath);
  try {
    for (const [method, path, body, status, message] of cases) {
      const response = await client.request(method, path, body);
      assert.equal(response.status, status, `${method} ${path}: ${response.raw}`);
      assert.ok(Array.isArray(response.body) && typeof response.body[0] === 'string', response.raw);
      assert.ok((response.body as string[])[0]!.startsWith(message), `${(response.body as string[])[0]} starts with ${message}`);
      if (status === 405) assert.equal(response.headers.get('allow'), method === 'GET' ? 'PUT' : 'GET');
    }
    assert.equal((await client.request('GET', 'vmm.ping')).status, 200, 'the same connection still serves');
  } finally {
    client.close();
  }
});

test('bodies up to 4 MiB are served; a larger one is refused with 413 before it is read', async () => {
  const skeleton = JSON.stringify({ payload: { kernel: '/k', cmdline: '' } });
  const largest = skeleton.replace('"cmdline":""', `"cmdline":"${'a'.repeat(4 * 1024 * 1024 - skeleton.length)}"`);
  assert.equal(largest.length, 4 * 1024 * 1024);
  assert.equal((await request('PUT', 'vm.create', largest)).status, 204);

  const client = ApiClient.connect(socketPath);
  await client.send(`PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: ${4 * 1024 * 1024 + 1}\r\n\r\n`);
  const refused = await client.response();
  assert.equal(refused.status, 413);
  assert.deepEqual(refused.body, ['the request body exceeds the 4194304-byte limit']);
  assert.equal(refused.headers.get('connection'), 'close');
  await client.closed();
  await assertServing();
});

test('malformed HTTP is answered 400 and that connection closed', async () => {
  const client = ApiClient.connect(socketPath);
  await client.send('GET /api/v1/vmm.ping HTTP/1.1\r\nBad Header: x\r\n\r\n');
  const response = await client.response();
  assert.equal(response.status, 400);
  assert.deepEqual(response.body, ['malformed HTTP request: invalid header field: "Bad Header: x"']);
  await client.closed();
  await assertServing();
});

test('keep-alive: several requests on one connection, pipelined ones answered in order', async () => {
  const client = ApiClient.connect(socketPath);
  try {
    for (let i = 0; i < 5; i++) assert.equal((await client.request('GET', 'vmm.ping')).status, 200);
    const pipelined = 'GET /api/v1/vm.info HTTP/1.1\r\n\r\nPUT /api/v1/vm.pause HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /api/v1/vm.counters HTTP/1.1\r\n\r\n';
    await client.send(pipelined);
    const answers = [await client.response(), await client.response(), await client.response()];
    assert.deepEqual(answers.map((answer) => answer.status), [200, 204, 200]);
    assert.deepEqual(answers[2]!.body, BODIES['vm.counters']);
    const chunked = 'PUT /api/v1/vm.resize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{"desire\r\nC\r\nd_vcpus": 3}\r\n0\r\n\r\n';
    await client.send(chunked);
    assert.equal((await client.response()).status, 204);
    assert.deepEqual(vmm.last(), { kind: 'vm.resize', body: { desired_vcpus: 3 } });
  } finally {
    client.close();
  }
});

test('24 clients at once are all served', async () => {
  const clients = Array.from({ length: 24 }, () => ApiClient.connect(socketPath));
  try {
    const answers = await Promise.all(clients.map((client, i) => client.request(i % 2 === 0 ? 'GET' : 'PUT', i % 2 === 0 ? 'vm.info' : 'vm.resume')));
    assert.deepEqual(new Set(answers.map((answer) => answer.status)), new Set([200, 204]));
    assert.equal(answers.filter((answer) => answer.status === 200).length, 12);
  } finally {
    clients.forEach((client) => client.close());
  }
});

test('descriptors passed with a request reach the action as new, open descriptors', async () => {
  const event = new EventFd({ nonBlocking: true });
  try {
    const response = await request('PUT', 'vm.add-net', { tap: 'tap0' }, [event.fd]);
    assert.equal(response.status, 200);
    const action = vmm.last();
    assert.ok(action.kind === 'vm.add-net');
    assert.equal(action.fds.length, 1);
    const passed = action.fds[0]!;
    assert.notEqual(passed, event.fd);
    native().eventfdWrite(passed, 5);
    assert.equal(event.read(), 5, 'the passed descriptor is the same eventfd');
    closeDescriptor(passed);

    const eventFds = eventFdCount();
    const refused = await request('GET', 'vm.info', undefined, [event.fd]);
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, ['vm.info does not take file descriptors']);
    assert.equal(eventFdCount(), eventFds, 'the server closed the descriptor it refused');

    vmm.answer = () => {
      throw new VmmActionError('NOT_IMPLEMENTED', 'network devices (vm.add-net) are not supported by Nimbus yet');
    };
    assert.equal((await request('PUT', 'vm.add-net', { tap: 'tap0' }, [event.fd])).status, 501);
    const failed = vmm.last();
    assert.ok(failed.kind === 'vm.add-net');
    assert.throws(() => fstatSync(failed.fds[0]!), { code: 'EBADF' }, 'the server closed the descriptors of a failed action');
  } finally {
    vmm.answer = new FakeVmm().answer;
    event.close();
  }
});

test('errors map to statuses, with the error chain as the body', async () => {
  const cases: [() => never, number, string[]][] = [
    [() => { throw new VmmActionError('VM_NOT_CREATED', 'no VM'); }, 404, ['no VM']],
    [() => { throw new VmmActionError('INVALID_STATE', 'not running'); }, 405, ['not running']],
    [() => { throw new VmmActionError('VM_ALREADY_CREATED', 'twice'); }, 409, ['twice']],
    [() => { throw new ConfigError('IDENTIFIER_NOT_UNIQUE', 'disks[1].id', 'dup id'); }, 409, ['dup id']],
    [() => { throw new ConfigError('DUPLICATE_DEVICE_PATH', 'disks[1].path', 'dup path'); }, 409, ['dup path']],
    [() => { throw new ConfigError('UNSUPPORTED', 'rng', '--rng is not supported by Nimbus yet [rng]'); }, 501, ['--rng is not supported by Nimbus yet [rng]']],
    [() => { throw new ConfigError('INVALID_VALUE', 'cpus.max_vcpus', 'too low'); }, 400, ['too low']],
    [() => { throw new Error('KVM said no', { cause: new Error('EINVAL') }); }, 500, ['KVM said no', 'EINVAL']],
  ];
  try {
    for (const [fail, status, messages] of cases) {
      vmm.answer = fail;
      const response = await request('PUT', 'vm.boot');
      assert.equal(response.status, status);
      assert.deepEqual(response.body, messages);
    }
    assert.ok(logger.lines.includes('ERROR API request vm.boot failed: KVM said no: EINVAL'));
  } finally {
    vmm.answer = new FakeVmm().answer;
  }
  await assertServing();
});

test('the socket is mode 0600, an existing path is refused, and stop() removes the socket', async () => {
  assert.equal(statSync(socketPath).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['api.sock']);
  await assert.rejects(ApiServer.start({ socket: { path: socketPath }, control: vmm, logger }), { code: 'PATH_EXISTS' });

  const secondPath = join(dir, 'second.sock');
  const second = await ApiServer.start({ socket: { path: secondPath }, control: vmm, logger });
  const idle = ApiClient.connect(secondPath);
  assert.equal((await apiRequest(secondPath, 'GET', 'vmm.ping')).status, 200);
  await second.stop();
  assert.equal(existsSync(secondPath), false);
  await idle.closed();
  await assertServing();
});

test('--api-socket fd=N serves on an inherited listening socket; exiting without stop() does not hang', { timeout: 30_000 }, async () => {
  const path = join(dir, 'inherited.sock');
  const sockets = socketSyscalls();
  const listener = sockets.socketUnix(0); // blocking, as a parent like libvirt creates it
  sockets.bind(listener, path);
  sockets.listen(listener, 8);
  const serverUrl = new URL(`./api-server${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;
  const script = `
    const { ApiServer } = await import(${JSON.stringify(serverUrl)});
    const quiet = { error: (m) => console.error(m), warn() {}, info() {}, debug() {}, trace() {}, enabled: () => false };
    const control = {
      async handle(action) {
        if (action.kind === 'vmm.shutdown') setImmediate(() => process.exit(7));
        return action.kind === 'vmm.ping' ? { body: { version: 'child' } } : {};
      },
    };
    await ApiServer.start({ socket: { fd: 3 }, control, logger: quiet });
    process.stdout.write('ready\\n');`;
  const scriptPath = join(dir, 'serve-inherited.mjs');
  writeFileSync(scriptPath, script);
  const child = spawn(process.execPath, [scriptPath], { stdio: ['ignore', 'pipe', 'inherit', listener] });
  closeDescriptor(listener);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => (chunk.toString().includes('ready') ? resolve() : undefined));
    child.once('exit', () => reject(new Error('the child exited before it was ready')));
  });
  const ping = await apiRequest(path, 'GET', 'vmm.ping');
  assert.equal(ping.status, 200);
  assert.deepEqual(ping.body, { version: 'child' });
  await apiRequest(path, 'PUT', 'vmm.shutdown').catch(() => undefined);
  assert.equal(await exited, 7, 'process.exit() with the API worker blocked in epoll_wait');
  assert.equal(existsSync(path), true, 'a socket given by descriptor is not the server\'s to remove');
});

test('an inherited descriptor that is not a listening socket is refused at start', async () => {
  const unbound = socketSyscalls().socketUnix(0);
  try {
    await assert.rejects(ApiServer.start({ socket: { fd: unbound }, control: vmm, logger }), { code: 'NOT_A_LISTENING_SOCKET' });
  } finally {
    closeDescriptor(unbound);
  }
});
