/**
 * Runs every nimbus-remote command against a fake API server on a Unix socket (node:net, temp dir) that records the
 * raw request and answers with canned responses; checks the exact request bytes, the printed output and the exit
 * status for 2xx and error answers, and the failures of the transport.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { REMOTE_COMMANDS } from './commands.ts';
import { main, processIo } from './nimbus-remote.ts';

/** What the fake server does with the next request: write these chunks (in order) then close, or close silently. */
type Answer = { chunks: string[] } | 'close-without-answer';

class FakeApiServer {
  readonly path: string;
  readonly requests: string[] = [];
  readonly #server: Server;
  readonly #answers: Answer[] = [];

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
    server.on('connection', (socket) => this.#serve(socket));
  }

  static async start(path: string): Promise<FakeApiServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return new FakeApiServer(path, server);
  }

  /** Queues the answer to the next request (204 No Content when none is queued). */
  answer(answer: Answer): void {
    this.#answers.push(answer);
  }

  reset(): void {
    this.requests.length = 0;
    this.#answers.length = 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #serve(socket: Socket): void {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const headerEnd = received.indexOf('\r\n\r\n');
      if (headerEnd === -1) return;
      const length = /\r\nContent-Length: (\d+)\r\n/.exec(received.subarray(0, headerEnd + 2).toString('latin1'));
      if (received.length < headerEnd + 4 + Number(length?.[1] ?? 0)) return;
      this.requests.push(received.toString('utf8'));
      void this.#reply(socket, this.#answers.shift() ?? { chunks: [respond(204, 'No Content')] });
    });
  }

  async #reply(socket: Socket, answer: Answer): Promise<void> {
    if (answer !== 'close-without-answer') {
      for (const chunk of answer.chunks) {
        await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
      }
    }
    socket.end();
  }
}

/** An answer as Cloud Hypervisor's micro_http writes it. */
function respond(status: number, reason: string, body?: string): string {
  const headers = ['Server: Cloud Hypervisor API', 'Connection: keep-alive'];
  if (body !== undefined) headers.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  return `HTTP/1.1 ${status} ${reason}\r\n${headers.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

function expectedRequest(method: string, endpoint: string, body?: string): string {
  const length = body === undefined ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return `${method} /api/v1/${endpoint} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n${length}\r\n${body ?? ''}`;
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], stdin = ''): Promise<Run> {
  const output = { stdout: '', stderr: '' };
  const status = await main(args, {
    writeStdout: (text) => {
      output.stdout += text;
    },
    writeStderr: (text) => {
      output.stderr += text;
    },
    readInput: (path) => (path === '-' ? stdin : processIo.readInput(path)),
    version: () => '9.8.7',
  });
  return { status, ...output };
}

const directory = mkdtempSync(join(tmpdir(), 'nimbus-remote-test-'));
let server: FakeApiServer;

before(async () => {
  server = await FakeApiServer.start(join(directory, 'api.sock'));
});
afterEach(() => server.reset());
after(async () => {
  await server.close();
  rmSync(directory, { recursive: true, force: true });
});

function remote(...args: string[]): Promise<Run> {
  return run(['--api-socket', server.path, ...args]);
}

interface RequestCase {
  args: string[];
  method: 'GET' | 'PUT';
  endpoint: string;
  body?: unknown;
}

const NO_BODY_CASES: RequestCase[] = [
  { args: ['boot'], method: 'PUT', endpoint: 'vm.boot' },
  { args: ['delete'], method: 'PUT', endpoint: 'vm.delete' },
  { args: ['pause'], method: 'PUT', endpoint: 'vm.pause' },
  { args: ['resume'], method: 'PUT', endpoint: 'vm.resume' },
  { args: ['reboot'], method: 'PUT', endpoint: 'vm.reboot' },
  { args: ['shutdown'], method: 'PUT', endpoint: 'vm.shutdown' },
  { args: ['power-button'], method: 'PUT', endpoint: 'vm.power-button' },
  { args: ['nmi'], method: 'PUT', endpoint: 'vm.nmi' },
  { args: ['shutdown-vmm'], method: 'PUT', endpoint: 'vmm.shutdown' },
  { args: ['info'], method: 'GET', endpoint: 'vm.info' },
  { args: ['counters'], method: 'GET', endpoint: 'vm.counters' },
  { args: ['ping'], method: 'GET', endpoint: 'vmm.ping' },
];

const PCI_DEFAULTS = { iommu: false, pci_segment: 0 };

const BODY_CASES: RequestCase[] = [
  {
    args: ['add-device', 'path=/sys/bus/pci/devices/0000:01:00.0/,id=vfio0'],
    method: 'PUT', endpoint: 'vm.add-device',
    body: { id: 'vfio0', ...PCI_DEFAULTS, path: '/sys/bus/pci/devices/0000:01:00.0/', x_exclude_mmap_bars: [] },
  },
  {
    args: ['add-disk', 'path=/img/disk.raw,id=disk1,readonly=on'],
    method: 'PUT', endpoint: 'vm.add-disk',
    body: {
      id: 'disk1', ...PCI_DEFAULTS, path: '/img/disk.raw', readonly: true, direct: false, num_queues: 1, queue_size: 128,
      vhost_user: false, disable_io_uring: false, disable_aio: false, backing_files: false, sparse: true,
      image_type: 'Unknown', lock_granularity: 'ByteRange',
    },
  },
  {
    args: ['add-fs', 'tag=myfs,socket=/tmp/virtiofs.sock'],
    method: 'PUT', endpoint: 'vm.add-fs',
    body: { ...PCI_DEFAULTS, tag: 'myfs', socket: '/tmp/virtiofs.sock', num_queues: 1, queue_size: 1024 },
  },
  {
    args: ['add-generic-vhost-user', 'device_type=fs,socket=/tmp/vu.sock,queue_sizes=[1024,1024]'],
    method: 'PUT', endpoint: 'vm.add-generic-vhost-user',
    body: { ...PCI_DEFAULTS, socket: '/tmp/vu.sock', queue_sizes: [1024, 1024], device_type: 26 },
  },
  {
    args: ['add-net', 'tap=chtap0,mac=12:34:56:78:9A:BC'],
    method: 'PUT', endpoint: 'vm.add-net',
    body: {
      ...PCI_DEFAULTS, tap: 'chtap0', mac: '12:34:56:78:9a:bc', num_queues: 2, queue_size: 256, vhost_user: false,
      vhost_mode: 'Client', offload_tso: true, offload_ufo: true, offload_csum: true,
    },
  },
  {
    args: ['add-pmem', 'file=/tmp/pmem.img,size=128M'],
    method: 'PUT', endpoint: 'vm.add-pmem',
    body: { ...PCI_DEFAULTS, file: '/tmp/pmem.img', size: 128 * 2 ** 20, discard_writes: false },
  },
  {
    args: ['add-user-device', 'socket=/tmp/vfio-user.sock,id=user0'],
    method: 'PUT', endpoint: 'vm.add-user-device',
    body: { id: 'user0', ...PCI_DEFAULTS, socket: '/tmp/vfio-user.sock' },
  },
  {
    args: ['add-vdpa', 'path=/dev/vhost-vdpa-0,num_queues=2'],
    method: 'PUT', endpoint: 'vm.add-vdpa',
    body: { ...PCI_DEFAULTS, path: '/dev/vhost-vdpa-0', num_queues: 2 },
  },
  {
    args: ['add-vsock', 'cid=3,socket=/tmp/vsock.sock'],
    method: 'PUT', endpoint: 'vm.add-vsock',
    body: { ...PCI_DEFAULTS, cid: 3, socket: '/tmp/vsock.sock' },
  },
  { args: ['coredump', '/tmp/core.elf'], method: 'PUT', endpoint: 'vm.coredump', body: { destination_url: '/tmp/core.elf' } },
  { args: ['remove-device', '_disk0'], method: 'PUT', endpoint: 'vm.remove-device', body: { id: '_disk0' } },
  { args: ['resize', '--cpus', '8'], method: 'PUT', endpoint: 'vm.resize', body: { desired_vcpus: 8 } },
  {
    args: ['resize', '--memory', '3G', '--balloon=512M'],
    method: 'PUT', endpoint: 'vm.resize',
    body: { desired_ram: 3 * 2 ** 30, desired_balloon: 512 * 2 ** 20 },
  },
  {
    args: ['resize-disk', '--disk', 'disk1', '--size', '20G'],
    method: 'PUT', endpoint: 'vm.resize-disk',
    body: { id: 'disk1', desired_size: 20 * 2 ** 30 },
  },
  {
    args: ['resize-zone', '--id', 'mem0', '--size', '1G'],
    method: 'PUT', endpoint: 'vm.resize-zone',
    body: { id: 'mem0', desired_ram: 2 ** 30 },
  },
  {
    args: ['restore', 'source_url=file:///tmp/snap,resume=on'],
    method: 'PUT', endpoint: 'vm.restore',
    body: { source_url: 'file:///tmp/snap', prefault: false, memory_restore_mode: 'Copy', resume: true, zone_updates: [] },
  },
  {
    args: ['send-migration', 'destination_url=unix:/tmp/mig,local=on'],
    method: 'PUT', endpoint: 'vm.send-migration',
    body: {
      destination_url: 'unix:/tmp/mig', local: true, downtime_ms: 300, timeout_s: 3600, timeout_strategy: 'Cancel',
      connections: 1, memory_mode: 'Precopy',
    },
  },
  {
    args: ['receive-migration', 'receiver_url=tcp:0.0.0.0:6000,memory_mode=postcopy,zone_updates=[mem0@1]'],
    method: 'PUT', endpoint: 'vm.receive-migration',
    body: { receiver_url: 'tcp:0.0.0.0:6000', memory_mode: 'Postcopy', zone_updates: [{ id: 'mem0', host_numa_node: 1 }] },
  },
  { args: ['snapshot', 'file:///tmp/snap'], method: 'PUT', endpoint: 'vm.snapshot', body: { destination_url: 'file:///tmp/snap' } },
];

describe('requests', () => {
  it('covers every command (create has its own tests)', () => {
    const covered = new Set([...NO_BODY_CASES, ...BODY_CASES].map((test) => test.args[0]));
    covered.add('create');
    assert.deepEqual([...covered].sort(), REMOTE_COMMANDS.map((command) => command.name).sort());
  });

  for (const test of NO_BODY_CASES) {
    it(`${test.args.join(' ')}: ${test.method} ${test.endpoint} without a body; 204 prints nothing`, async () => {
      assert.deepEqual(await remote(...test.args), { status: 0, stdout: '', stderr: '' });
      assert.deepEqual(server.requests, [expectedRequest(test.method, test.endpoint)]);
    });
  }

  for (const test of BODY_CASES) {
    it(`${test.args.join(' ')}: ${test.method} ${test.endpoint} with its JSON body`, async () => {
      assert.deepEqual(await remote(...test.args), { status: 0, stdout: '', stderr: '' });
      assert.equal(server.requests.length, 1);
      const request = server.requests[0] ?? '';
      const body = request.slice(request.indexOf('\r\n\r\n') + 4);
      assert.equal(request, expectedRequest(test.method, test.endpoint, body), 'request line and headers');
      assert.deepEqual(JSON.parse(body), test.body);
    });
  }

  it('create sends the VmConfig file exactly as read', async () => {
    const config = '{\n  "payload": {"kernel": "/boot/vmlinux", "cmdline": "console=ttyS0 \u00e9"}\n}\n';
    const path = join(directory, 'vm.json');
    writeFileSync(path, config);
    assert.deepEqual(await remote('create', path), { status: 0, stdout: '', stderr: '' });
    assert.deepEqual(server.requests, [expectedRequest('PUT', 'vm.create', config)]);
  });

  it('create without a path (or with -) reads standard input', async () => {
    const config = '{"payload":{"kernel":"/k"}}';
    assert.equal((await run(['--api-socket', server.path, 'create'], config)).status, 0);
    assert.equal((await run(['--api-socket', server.path, 'create', '-'], config)).status, 0);
    assert.deepEqual(server.requests, [expectedRequest('PUT', 'vm.create', config), expectedRequest('PUT', 'vm.create', config)]);
  });

  it('create reports an unreadable file and sends nothing', async () => {
    const missing = join(directory, 'missing.json');
    const result = await remote('create', missing);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      'Error: nimbus-remote exited with the following chain of errors:\n' +
        `  0: Error reading from file ${missing}\n` +
        `  1: ENOENT: no such file or directory, open '${missing}'\n`,
    );
    assert.deepEqual(server.requests, []);
  });

  it('argument errors are reported without contacting the VMM', async () => {
    const result = await remote('add-net', 'tap=tap0,fd=[3]');
    assert.deepEqual(result, {
      status: 1,
      stdout: '',
      stderr:
        'Error: nimbus-remote exited with the following error:\n' +
        '  add-net fd=[...]: passing file descriptors is not supported by nimbus-remote yet; name the TAP device with tap=<if_name> instead\n',
    });
    const syntax = await remote('add-disk', 'path=/a,bogus=1');
    assert.equal(syntax.status, 1);
    assert.match(syntax.stderr, /^Error: nimbus-remote exited with the following chain of errors:\n {2}0: Error parsing disk syntax\n {2}1: --disk: unknown key "bogus"; known keys are path, /);
    assert.deepEqual(server.requests, []);
  });

  it('prints deprecation notices on standard error and still sends the request', async () => {
    const result = await remote('add-generic-vhost-user', 'virtio_id=26,socket=/s,queue_sizes=[256]');
    assert.deepEqual(result, { status: 0, stdout: '', stderr: "warning: 'virtio_id' in --generic-vhost-user is deprecated; use 'device_type'.\n" });
    assert.equal(server.requests.length, 1);
  });
});

describe('answers', () => {
  const ping = '{"build_version":"v0.1.0","version":"0.1.0","pid":4242,"features":["kvm"]}';

  it('a 200 answer prints its body as sent, followed by a newline', async () => {
    server.answer({ chunks: [respond(200, 'OK', ping)] });
    assert.deepEqual(await remote('ping'), { status: 0, stdout: `${ping}\n`, stderr: '' });
  });

  it('info, counters and a hot-plug answer (PciDeviceInfo) are printed the same way', async () => {
    const info = '{"config":{"payload":{"kernel":"/k"}},"state":"Running","memory_actual_size":536870912}';
    const counters = '{"_disk0":{"read_bytes":4096,"write_bytes":0}}';
    const pci = '{"id":"_disk1","bdf":"0000:00:06.0"}';
    server.answer({ chunks: [respond(200, 'OK', info)] });
    server.answer({ chunks: [respond(200, 'OK', counters)] });
    server.answer({ chunks: [respond(200, 'OK', pci)] });
    assert.equal((await remote('info')).stdout, `${info}\n`);
    assert.equal((await remote('counters')).stdout, `${counters}\n`);
    assert.deepEqual(await remote('add-disk', 'path=/img/b.raw'), { status: 0, stdout: `${pci}\n`, stderr: '' });
  });

  it('an answer split into many writes is reassembled', async () => {
    const answer = respond(200, 'OK', ping);
    server.answer({ chunks: [answer.slice(0, 5), answer.slice(5, 40), answer.slice(40, -3), answer.slice(-3)] });
    assert.equal((await remote('ping')).stdout, `${ping}\n`);
  });

  it('a 204 with Content-Length: 0 prints nothing', async () => {
    server.answer({ chunks: ['HTTP/1.1 204 No Content\r\nServer: Cloud Hypervisor API\r\nContent-Length: 0\r\n\r\n'] });
    assert.deepEqual(await remote('pause'), { status: 0, stdout: '', stderr: '' });
  });

  it('an error answer prints the VMM error chain on standard error and exits 1', async () => {
    server.answer({ chunks: [respond(404, 'Not Found', '["Error from API","The VM is not created"]')] });
    assert.deepEqual(await remote('boot'), {
      status: 1,
      stdout: '',
      stderr:
        'Error: nimbus-remote exited with the following chain of errors:\n' +
        '  0: http client error\n' +
        '  1: Server responded with NotFound\n' +
        '  2: Error from API\n' +
        '  3: The VM is not created\n',
    });
  });

  it('names each status the Nimbus API answers (4xx and 5xx)', async () => {
    const statuses: [number, string, string][] = [
      [400, 'Bad Request', 'BadRequest'],
      [405, 'Method Not Allowed', 'MethodNotAllowed'],
      [409, 'Conflict', 'Conflict'],
      [429, 'Too Many Requests', 'TooManyRequests'],
      [500, 'Internal Server Error', 'InternalServerError'],
      [501, 'Not Implemented', 'NotImplemented'],
      [503, 'Service Unavailable', 'Unknown (HTTP 503)'],
    ];
    for (const [status, reason, name] of statuses) {
      server.answer({ chunks: [respond(status, reason, '["Error from API","it failed"]')] });
      const result = await remote('pause');
      assert.equal(result.status, 1, reason);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr.split('\n')[2], `  1: Server responded with ${name}`);
      assert.equal(result.stderr.split('\n')[4], '  3: it failed');
    }
  });

  it('an error answer whose body is not a JSON array of strings is shown raw on an X line', async () => {
    server.answer({ chunks: [respond(500, 'Internal Server Error', 'oops')] });
    server.answer({ chunks: [respond(500, 'Internal Server Error')] });
    const garbled = await remote('resume');
    assert.equal(garbled.status, 1);
    assert.match(
      garbled.stderr,
      /^Error: nimbus-remote exited with the following chain of errors:\n {2}0: http client error\n {2}1: Server responded with InternalServerError\n {2}X: Can't get remote's error messages from JSON response: .+: body='oops'\n$/,
    );
    const empty = await remote('resume');
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /\n {2}X: Can't get remote's error messages from JSON response: .+: body=''\n$/);
  });

  it('a VMM that closes the connection without answering is an error', async () => {
    server.answer('close-without-answer');
    assert.deepEqual(await remote('shutdown-vmm'), {
      status: 1,
      stdout: '',
      stderr: 'Error: nimbus-remote exited with the following error:\n  the VMM closed the connection without answering\n',
    });
  });

  it('a malformed answer is an error', async () => {
    server.answer({ chunks: ['HTTP/2 200\r\n\r\n'] });
    const result = await remote('ping');
    assert.equal(result.status, 1);
    assert.equal(result.stderr, 'Error: nimbus-remote exited with the following error:\n  the answer does not start with an HTTP/1.1 status line (got "HTTP/2 200")\n');
  });
});

describe('connection failures and program output', () => {
  it('a missing socket is reported with the path and the system error', async () => {
    const path = join(directory, 'absent.sock');
    assert.deepEqual(await run(['--api-socket', path, 'ping']), {
      status: 1,
      stdout: '',
      stderr: `Error: nimbus-remote exited with the following chain of errors:\n  0: Error opening HTTP socket ${path}\n  1: connect ENOENT ${path}\n`,
    });
  });

  it('a path that is not a listening socket is refused', async () => {
    const path = join(directory, 'not-a-socket');
    writeFileSync(path, '');
    const result = await run(['--api-socket', path, 'ping']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`0: Error opening HTTP socket ${path}\n {2}1: connect E[A-Z]+ ${path}\n$`));
  });

  it('usage errors are printed clap-style with exit status 1', async () => {
    const unknown = await run(['--api-socket', server.path, 'frobnicate']);
    assert.equal(unknown.status, 1);
    assert.equal(unknown.stdout, '');
    assert.ok(unknown.stderr.startsWith("error: unrecognized subcommand 'frobnicate'\n\n  commands: add-device, "), unknown.stderr);
    assert.ok(
      unknown.stderr.endsWith("\n\nUsage: nimbus-remote [OPTIONS] <COMMAND>\n\nFor more information, try 'nimbus-remote --help'.\n"),
      unknown.stderr,
    );
    const result = await run(['--api-socket', server.path, 'pause', 'now']);
    assert.deepEqual(result, {
      status: 1,
      stdout: '',
      stderr: "error: unexpected argument 'now' found\n\nFor more information, try 'nimbus-remote pause --help'.\n",
    });
    assert.deepEqual(server.requests, []);
  });

  it('help goes to standard output (exit 0), or to standard error without arguments (exit 1); -V prints the version', async () => {
    const help = await run(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Remotely control a nimbus VMM/);
    assert.equal(help.stderr, '');
    const bare = await run([]);
    assert.deepEqual(bare, { status: 1, stdout: '', stderr: help.stdout });
    assert.deepEqual(await run(['-V']), { status: 0, stdout: 'nimbus-remote 9.8.7\n', stderr: '' });
  });
});
