/**
 * Runs every nimbus-remote command against a fake API server on a Unix socket (node:net, temp dir) that records the
 * raw request and answers with canned responses; checks the exact request bytes, the printed output and the exit
 * status for 2xx and error answers, and the failures of the transport. The file descriptor arguments are run
 * against a second fake server on the addon's socket calls, which receives the descriptors passed with a request:
 * eventfds opened here must arrive as descriptors of the same eventfds, in order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { EventFd } from '../../host/eventfd.ts';
import { native } from '../../host/native.ts';
import { closeDescriptor, listenUnixSocket, SOCK_NONBLOCK, sendAll, socketSyscalls } from '../../host/unix-socket.ts';
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
    isOpenDescriptor: (fd) => processIo.isOpenDescriptor(fd),
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
      stderr:
        'Error: nimbus-remote exited with the following chain of errors:\n' +
        `  0: Error opening HTTP socket ${path}\n` +
        '  1: connect failed: No such file or directory (ENOENT)\n',
    });
  });

  it('a path that is not a listening socket is refused', async () => {
    const path = join(directory, 'not-a-socket');
    writeFileSync(path, '');
    const result = await run(['--api-socket', path, 'ping']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`0: Error opening HTTP socket ${path}\n {2}1: connect failed: .+ \\(E[A-Z]+\\)\n$`));
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

/** One request as the descriptor-receiving server read it: the raw bytes and the descriptors that came with them. */
interface ReceivedRequest {
  text: string;
  fds: number[];
  /** The accepted connection, to answer on. */
  connection: number;
}

/** A fake API server on the addon's socket calls (node:net drops passed descriptors), used synchronously. */
class DescriptorServer {
  readonly path: string;
  readonly #listenFd: number;

  constructor(path: string) {
    this.path = path;
    this.#listenFd = listenUnixSocket(path);
  }

  /** Whether a client is waiting to be accepted (then accepts and closes it). */
  hasPendingConnection(): boolean {
    const connection = socketSyscalls().accept4(this.#listenFd, SOCK_NONBLOCK);
    if (connection < 0) return false;
    closeDescriptor(connection);
    return true;
  }

  /**
   * Accepts nimbus-remote's connection and reads its whole request. nimbus-remote connects and writes the request
   * (blocking) before it first waits, so both are there once `remote(...)` has returned its promise.
   */
  receive(): ReceivedRequest {
    const sockets = socketSyscalls();
    const connection = sockets.accept4(this.#listenFd, SOCK_NONBLOCK);
    assert.ok(connection >= 0, 'nimbus-remote has not connected');
    const buffer = new Uint8Array(64 * 1024);
    let length = 0;
    const fds: number[] = [];
    for (;;) {
      const message = sockets.recvmsg(connection, buffer, length, buffer.length - length);
      assert.equal(message.truncated, false);
      fds.push(...message.fds);
      if (message.bytes <= 0) break;
      length += message.bytes;
    }
    return { text: new TextDecoder().decode(buffer.subarray(0, length)), fds, connection };
  }

  /** Writes `answer` on the request's connection and closes it. */
  reply(request: ReceivedRequest, answer: string): void {
    sendAll(request.connection, new TextEncoder().encode(answer));
    closeDescriptor(request.connection);
  }

  close(): void {
    closeDescriptor(this.#listenFd);
    rmSync(this.path, { force: true });
  }
}

/** The JSON body of a raw request, after checking its request line and headers. */
function bodyOf(request: ReceivedRequest, endpoint: string): unknown {
  const body = request.text.slice(request.text.indexOf('\r\n\r\n') + 4);
  assert.equal(request.text, expectedRequest('PUT', endpoint, body));
  return JSON.parse(body);
}

describe('passing file descriptors', () => {
  let fdServer: DescriptorServer;
  /** Eventfds opened by a test, closed after it; with the descriptors the server received. */
  let opened: EventFd[] = [];
  let received: number[] = [];

  before(() => {
    fdServer = new DescriptorServer(join(directory, 'fd-api.sock'));
  });
  afterEach(() => {
    for (const eventFd of opened) eventFd.close();
    for (const fd of received) closeDescriptor(fd);
    opened = [];
    received = [];
  });
  after(() => fdServer.close());

  function eventFds(count: number): EventFd[] {
    const created = Array.from({ length: count }, () => new EventFd({ nonBlocking: true }));
    opened.push(...created);
    return created;
  }

  /** Runs nimbus-remote against the descriptor server; answers `answer`; returns the request and the run. */
  async function exchange(args: string[], answer: string): Promise<{ request: ReceivedRequest; result: Run }> {
    const running = run(['--api-socket', fdServer.path, ...args]);
    const request = fdServer.receive();
    received.push(...request.fds);
    fdServer.reply(request, answer);
    return { request, result: await running };
  }

  /** Checks that `fds` (received) are the eventfds `originals`, in order: a value written on one is read on the other. */
  function assertSameEventFds(fds: readonly number[], originals: readonly EventFd[]): void {
    assert.equal(fds.length, originals.length, 'number of descriptors received');
    originals.forEach((original, index) => original.write(index + 10));
    fds.forEach((fd, index) => {
      assert.notEqual(fd, originals[index]?.fd, 'the server holds its own descriptor');
      assert.equal(native().eventfdRead(fd), index + 10, `descriptor ${index}`);
    });
  }

  it('add-net fd=[a,b] passes both descriptors with the request and leaves them out of the body', async () => {
    const [tap0, tap1] = eventFds(2);
    assert.ok(tap0 !== undefined && tap1 !== undefined);
    const notSupported = respond(501, 'Not Implemented', '["Error from API","network devices (vm.add-net) is not supported by Nimbus yet"]');
    const { request, result } = await exchange(['add-net', `fd=[${tap0.fd},${tap1.fd}],mac=12:34:56:78:9a:bc`], notSupported);
    assertSameEventFds(request.fds, [tap0, tap1]);
    assert.deepEqual(bodyOf(request, 'vm.add-net'), {
      ...PCI_DEFAULTS, mac: '12:34:56:78:9a:bc', num_queues: 2, queue_size: 256, vhost_user: false, vhost_mode: 'Client',
      offload_tso: true, offload_ufo: true, offload_csum: true,
    });
    assert.deepEqual(result, {
      status: 1,
      stdout: '',
      stderr:
        'Error: nimbus-remote exited with the following chain of errors:\n' +
        '  0: http client error\n' +
        '  1: Server responded with NotImplemented\n' +
        '  2: Error from API\n' +
        '  3: network devices (vm.add-net) is not supported by Nimbus yet\n',
    });
  });

  it('add-device fd= passes the VFIO cdev descriptor; the answer is printed', async () => {
    const [cdev] = eventFds(1);
    assert.ok(cdev !== undefined);
    const pci = '{"id":"vfio0","bdf":"0000:00:05.0"}';
    const { request, result } = await exchange(['add-device', `fd=${cdev.fd},id=vfio0`], respond(200, 'OK', pci));
    assertSameEventFds(request.fds, [cdev]);
    assert.deepEqual(bodyOf(request, 'vm.add-device'), { id: 'vfio0', ...PCI_DEFAULTS, x_exclude_mmap_bars: [] });
    assert.deepEqual(result, { status: 0, stdout: `${pci}\n`, stderr: '' });
  });

  it('restore passes net_fds, then vfio_fds, then iommufd_fd', async () => {
    const [net0a, net0b, net1, vfio0, iommufd] = eventFds(5);
    assert.ok(net0a && net0b && net1 && vfio0 && iommufd);
    const config =
      `source_url=file:///tmp/snap,net_fds=[net0@[${net0a.fd},${net0b.fd}],net1@[${net1.fd}]],` +
      `vfio_fds=[vfio0@${vfio0.fd}],iommufd_fd=${iommufd.fd},resume=on`;
    const { request, result } = await exchange(['restore', config], respond(204, 'No Content'));
    assertSameEventFds(request.fds, [net0a, net0b, net1, vfio0, iommufd]);
    assert.deepEqual(bodyOf(request, 'vm.restore'), {
      source_url: 'file:///tmp/snap', prefault: false, memory_restore_mode: 'Copy',
      net_fds: [{ id: 'net0', num_fds: 2 }, { id: 'net1', num_fds: 1 }], vfio_fds: [{ id: 'vfio0' }], resume: true, zone_updates: [],
    });
    assert.deepEqual(result, { status: 0, stdout: '', stderr: '' });
  });

  it('receive-migration passes vfio_fds, then iommufd_fd', async () => {
    const [vfio0, vfio1, iommufd] = eventFds(3);
    assert.ok(vfio0 && vfio1 && iommufd);
    const config = `receiver_url=unix:/tmp/mig,vfio_fds=[vfio1@${vfio1.fd},vfio0@${vfio0.fd}],iommufd_fd=${iommufd.fd}`;
    const { request, result } = await exchange(['receive-migration', config], respond(204, 'No Content'));
    assertSameEventFds(request.fds, [vfio1, vfio0, iommufd]);
    assert.deepEqual(bodyOf(request, 'vm.receive-migration'), {
      receiver_url: 'unix:/tmp/mig', memory_mode: 'Precopy', vfio_fds: [{ id: 'vfio1' }, { id: 'vfio0' }], zone_updates: [],
    });
    assert.equal(result.status, 0);
  });

  it('the same descriptor may be passed twice (each arrives as its own descriptor)', async () => {
    const [tap] = eventFds(1);
    assert.ok(tap !== undefined);
    const { request } = await exchange(['add-net', `fd=[${tap.fd},${tap.fd}]`], respond(204, 'No Content'));
    assert.equal(request.fds.length, 2);
    tap.write(3);
    assert.equal(native().eventfdRead(request.fds[1] ?? -1), 3);
    assert.equal(native().eventfdRead(request.fds[0] ?? -1), -1, 'the counter was read through the other copy');
  });

  it('a request without descriptor arguments passes none', async () => {
    const { request, result } = await exchange(['ping'], respond(200, 'OK', '{"version":"0.1.0"}'));
    assert.deepEqual(request.fds, []);
    assert.equal(request.text, expectedRequest('GET', 'vmm.ping'));
    assert.equal(result.stdout, '{"version":"0.1.0"}\n');
  });

  it('a descriptor that is not open is an error naming the argument, and the VMM is not contacted', async () => {
    const [closed, open] = eventFds(2);
    assert.ok(closed !== undefined && open !== undefined);
    closed.close();
    const config = `source_url=file:///s,net_fds=[net0@[${open.fd}]],vfio_fds=[vfio0@${closed.fd}]`;
    const result = await run(['--api-socket', fdServer.path, 'restore', config]);
    assert.deepEqual(result, {
      status: 1,
      stdout: '',
      stderr:
        'Error: nimbus-remote exited with the following error:\n' +
        `  restore vfio_fds (vfio0): file descriptor ${closed.fd} is not open in nimbus-remote; the numbers name descriptors ` +
        `nimbus-remote inherits, so open it in the process that starts nimbus-remote (in a shell: ${closed.fd}<>/path/to/file)\n`,
    });
    assert.equal(fdServer.hasPendingConnection(), false);
  });
});
