/** Tests for the nimbus-remote command line: global options, commands, their arguments, usage errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRemoteCommandLine, type RemoteInvocation } from './args.ts';
import { type CommandContext, findCommand } from './commands.ts';
import { commandHelpText, remoteHelpText } from './help.ts';
import { RemoteError } from './remote-error.ts';

interface Recorded extends CommandContext {
  reads: string[];
  warnings: string[];
}

/** The descriptors the tests pretend are open. */
const OPEN_DESCRIPTORS = new Set([3, 4, 5, 6, 7]);

function context(input = '{"payload":{"kernel":"/k"}}'): Recorded {
  const recorded: Recorded = {
    reads: [],
    warnings: [],
    readInput: (path) => {
      recorded.reads.push(path);
      return input;
    },
    warn: (message) => recorded.warnings.push(message),
    isOpenDescriptor: (fd) => OPEN_DESCRIPTORS.has(fd),
  };
  return recorded;
}

function parse(args: string[], ctx: CommandContext = context()): RemoteInvocation {
  return parseRemoteCommandLine(args, ctx);
}

interface BuiltRequest {
  method: string;
  endpoint: string;
  body?: unknown;
  fds?: readonly number[];
}

function request(args: string[], ctx: CommandContext = context()): BuiltRequest {
  const invocation = parse(['--api-socket', '/run/api.sock', ...args], ctx);
  assert.equal(invocation.kind, 'request');
  const { method, endpoint, body, fds } = invocation.request;
  const built: BuiltRequest = { method, endpoint };
  if (body !== undefined) built.body = JSON.parse(body);
  if (fds !== undefined) built.fds = fds;
  return built;
}

function commandHelp(name: string): string {
  const command = findCommand(name);
  assert.ok(command !== undefined);
  return commandHelpText(command);
}

function usage(code: string, message: string | RegExp, helpHint = "'nimbus-remote --help'"): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof RemoteError, `expected RemoteError, got ${String(error)}`);
    assert.equal(error.code, code);
    const [first = ''] = error.message.split('\n');
    if (typeof message === 'string') assert.equal(first, message);
    else assert.match(error.message, message);
    assert.ok(error.message.endsWith(`\n\nFor more information, try ${helpHint}.`), error.message);
    return true;
  };
}

describe('help and version', () => {
  it('no arguments prints the help on standard error (clap arg_required_else_help)', () => {
    assert.deepEqual(parse([]), { kind: 'help', text: remoteHelpText(), isError: true });
  });

  it('-h, --help and help print the program help, before or after --api-socket', () => {
    for (const args of [['-h'], ['--help'], ['help'], ['--api-socket', '/s', '--help'], ['--api-socket=/s', 'help']]) {
      assert.deepEqual(parse(args), { kind: 'help', text: remoteHelpText(), isError: false }, args.join(' '));
    }
  });

  it('help <command>, <command> -h and <command> --help print the command help, even after arguments', () => {
    for (const args of [['help', 'add-disk'], ['add-disk', '-h'], ['add-disk', 'path=/a', '--help'], ['--api-socket', '/s', 'add-disk', '--help']]) {
      assert.deepEqual(parse(args), { kind: 'help', text: commandHelp('add-disk'), isError: false }, args.join(' '));
    }
  });

  it('-V and --version ask for the version', () => {
    assert.deepEqual(parse(['-V']), { kind: 'version' });
    assert.deepEqual(parse(['--version']), { kind: 'version' });
  });
});

describe('global options and commands', () => {
  it('takes --api-socket as --api-socket=PATH or --api-socket PATH', () => {
    for (const args of [['--api-socket=/tmp/ch.sock', 'ping'], ['--api-socket', '/tmp/ch.sock', 'ping']]) {
      assert.deepEqual(parse(args), {
        kind: 'request',
        apiSocket: '/tmp/ch.sock',
        request: { method: 'GET', endpoint: 'vmm.ping' },
      });
    }
  });

  it('names unknown commands and options', () => {
    assert.throws(() => parse(['--api-socket', '/s', 'frobnicate']), usage('UNKNOWN_COMMAND', "unrecognized subcommand 'frobnicate'"));
    assert.throws(() => parse(['help', 'frobnicate']), usage('UNKNOWN_COMMAND', /commands: add-device, add-disk,.*, snapshot\n/));
    assert.throws(() => parse(['--socket', '/s', 'info']), usage('UNKNOWN_ARGUMENT', "unexpected argument '--socket' found"));
    assert.throws(() => parse(['-x', 'info']), usage('UNKNOWN_ARGUMENT', "unexpected argument '-x' found"));
    assert.throws(() => parse(['help', 'info', 'extra']), usage('UNKNOWN_ARGUMENT', "unexpected argument 'extra' found"));
  });

  it('refuses a repeated or valueless --api-socket, and a missing command', () => {
    assert.throws(
      () => parse(['--api-socket', '/a', '--api-socket', '/b', 'info']),
      usage('DUPLICATE_ARGUMENT', "the argument '--api-socket <api-socket>' cannot be used multiple times"),
    );
    assert.throws(() => parse(['--api-socket']), usage('MISSING_ARGUMENT', "a value is required for '--api-socket <api-socket>' but none was supplied"));
    assert.throws(() => parse(['--api-socket', '--help']), usage('MISSING_ARGUMENT', /a value is required for '--api-socket/));
    assert.throws(() => parse(['--api-socket', '/s']), usage('MISSING_ARGUMENT', "'nimbus-remote' requires a subcommand but one was not provided"));
  });

  it('requires --api-socket for commands, before reading any input', () => {
    const ctx = context();
    assert.throws(
      () => parse(['create'], ctx),
      usage('MISSING_API_SOCKET', 'create talks to a VMM: give its API socket with --api-socket <path> before the command'),
    );
    assert.deepEqual(ctx.reads, []);
  });

  it('explains that --api-socket goes before the command', () => {
    assert.throws(
      () => parse(['info', '--api-socket', '/s']),
      usage('UNKNOWN_ARGUMENT', /^unexpected argument '--api-socket' found\n\n {2}tip: --api-socket goes before the command/, "'nimbus-remote info --help'"),
    );
  });
});

describe('command arguments', () => {
  const resizeHelp = "'nimbus-remote resize --help'";

  it('takes options as --name=value or --name value, in any order', () => {
    assert.deepEqual(request(['resize', '--memory=3G', '--cpus', '8', '--balloon', '512M']), {
      method: 'PUT',
      endpoint: 'vm.resize',
      body: { desired_vcpus: 8, desired_ram: 3 * 2 ** 30, desired_balloon: 512 * 2 ** 20 },
    });
  });

  it('refuses unknown, repeated and valueless options with the command named', () => {
    assert.throws(() => request(['resize', '--disk', 'd']), usage('UNKNOWN_ARGUMENT', "unexpected argument '--disk' found", resizeHelp));
    assert.throws(() => request(['resize', '-c', '2']), usage('UNKNOWN_ARGUMENT', "unexpected argument '-c' found", resizeHelp));
    assert.throws(
      () => request(['resize', '--cpus', '2', '--cpus=3']),
      usage('DUPLICATE_ARGUMENT', "the argument '--cpus <cpus>' cannot be used multiple times", resizeHelp),
    );
    assert.throws(() => request(['resize', '--cpus']), usage('MISSING_ARGUMENT', "a value is required for '--cpus <cpus>' but none was supplied", resizeHelp));
    assert.throws(() => request(['resize', '--cpus', '-1']), usage('MISSING_ARGUMENT', /'--cpus <cpus>'/, resizeHelp));
  });

  it('refuses a second positional argument and options for commands without any', () => {
    const help = "'nimbus-remote add-disk --help'";
    assert.throws(() => request(['add-disk', 'path=/a', 'path=/b']), usage('UNKNOWN_ARGUMENT', "unexpected argument 'path=/b' found", help));
    assert.throws(() => request(['pause', 'now']), usage('UNKNOWN_ARGUMENT', "unexpected argument 'now' found", "'nimbus-remote pause --help'"));
    assert.throws(() => request(['pause', '--force']), usage('UNKNOWN_ARGUMENT', "unexpected argument '--force' found", "'nimbus-remote pause --help'"));
  });

  it('reports missing required arguments like clap', () => {
    assert.throws(
      () => request(['snapshot']),
      usage('MISSING_ARGUMENT', /^the following required arguments were not provided:\n {2}<snapshot_config>\n/, "'nimbus-remote snapshot --help'"),
    );
    assert.throws(
      () => request(['resize-disk', '--size', '1G']),
      usage('MISSING_ARGUMENT', /not provided:\n {2}--disk <disk>\n/, "'nimbus-remote resize-disk --help'"),
    );
    assert.throws(
      () => request(['resize']),
      usage('MISSING_ARGUMENT', 'resize needs at least one of --cpus <cpus>, --memory <memory>, --balloon <balloon>', resizeHelp),
    );
  });

  it('after --, arguments starting with - are positional', () => {
    assert.deepEqual(request(['remove-device', '--', '-odd-id']), { method: 'PUT', endpoint: 'vm.remove-device', body: { id: '-odd-id' } });
  });

  it('create reads standard input by default (-), or the file given', () => {
    const stdin = context('{"payload":{"kernel":"/vmlinux"}}');
    const invocation = parse(['--api-socket', '/s', 'create'], stdin);
    assert.equal(invocation.kind, 'request');
    assert.deepEqual(invocation.request, { method: 'PUT', endpoint: 'vm.create', body: '{"payload":{"kernel":"/vmlinux"}}' });
    assert.deepEqual(stdin.reads, ['-']);
    const file = context();
    request(['create', '/etc/vm.json'], file);
    assert.deepEqual(file.reads, ['/etc/vm.json']);
  });

  it('converts K/M/G sizes and refuses malformed sizes and counts under ch-remote headings', () => {
    assert.deepEqual(request(['resize-zone', '--id', 'mem0', '--size', '4096']).body, { id: 'mem0', desired_ram: 4096 });
    assert.deepEqual(request(['resize-disk', '--disk', 'disk1', '--size', '64K']).body, { id: 'disk1', desired_size: 65536 });
    const cases: [string[], string, string][] = [
      [['resize', '--cpus', 'two'], 'Error parsing CPU count', 'invalid value "two" for --cpus: expected an integer from 0 to 4294967295'],
      [['resize', '--memory', '1.5G'], 'Error parsing memory size', 'invalid value "1.5G" for --memory: expected a size like 512M or 2G'],
      [['resize', '--balloon', '1T'], 'Error parsing balloon size', 'invalid value "1T" for --balloon: expected a size like 512M or 2G'],
      [['resize-disk', '--disk', 'd', '--size', 'big'], 'Invalid disk size', 'invalid value "big" for --size: expected a size like 512M or 2G'],
      [['resize-zone', '--id', 'z', '--size', '-'], 'Error parsing memory size', 'invalid value "-" for --size: expected a size like 512M or 2G'],
    ];
    for (const [args, heading, cause] of cases) {
      assert.throws(
        () => request(args),
        (error) => {
          assert.ok(error instanceof RemoteError);
          assert.deepEqual([error.code, error.message, (error.cause as Error).message], ['INVALID_ARGUMENT', heading, cause]);
          return true;
        },
        args.join(' '),
      );
    }
  });

  it('reports device syntax errors under ch-remote headings, with the parser error as the cause', () => {
    assert.throws(
      () => request(['add-vsock', 'socket=/tmp/v.sock']),
      (error) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.message, 'Error parsing vsock syntax');
        assert.equal((error.cause as Error).message, '--vsock: cid=<context_id> is required');
        return true;
      },
    );
  });

  it('passes deprecation notices of the option parsers to warn', () => {
    const ctx = context();
    const { body } = request(['add-generic-vhost-user', 'virtio_id=26,socket=/s,queue_sizes=[256]'], ctx);
    assert.deepEqual(body, { iommu: false, pci_segment: 0, socket: '/s', queue_sizes: [256], device_type: 26 });
    assert.deepEqual(ctx.warnings, ["'virtio_id' in --generic-vhost-user is deprecated; use 'device_type'."]);
  });

  it('takes file descriptors out of the body and passes them with the request, in the order the VMM shares them out', () => {
    const net = request(['add-net', 'fd=[3,4],num_queues=4']);
    assert.deepEqual(net.fds, [3, 4]);
    assert.equal((net.body as Record<string, unknown>).fds, undefined, 'ch-remote takes the fds out of NetConfig');
    assert.deepEqual(net.body, {
      iommu: false, pci_segment: 0, num_queues: 4, queue_size: 256, vhost_user: false, vhost_mode: 'Client',
      offload_tso: true, offload_ufo: true, offload_csum: true,
    });
    assert.deepEqual(request(['add-device', 'fd=5,id=vfio0']), {
      method: 'PUT', endpoint: 'vm.add-device', body: { id: 'vfio0', iommu: false, pci_segment: 0, x_exclude_mmap_bars: [] }, fds: [5],
    });
    assert.deepEqual(request(['restore', 'source_url=file:///s,net_fds=[net0@[3,4],net1@[7]],vfio_fds=[vfio0@5],iommufd_fd=6']), {
      method: 'PUT',
      endpoint: 'vm.restore',
      body: {
        source_url: 'file:///s', prefault: false, memory_restore_mode: 'Copy',
        net_fds: [{ id: 'net0', num_fds: 2 }, { id: 'net1', num_fds: 1 }], vfio_fds: [{ id: 'vfio0' }], resume: false, zone_updates: [],
      },
      fds: [3, 4, 7, 5, 6],
    });
    assert.deepEqual(request(['receive-migration', 'receiver_url=unix:/s,vfio_fds=[vfio0@5,vfio1@3],iommufd_fd=6']), {
      method: 'PUT',
      endpoint: 'vm.receive-migration',
      body: { receiver_url: 'unix:/s', memory_mode: 'Precopy', vfio_fds: [{ id: 'vfio0' }, { id: 'vfio1' }], zone_updates: [] },
      fds: [5, 3, 6],
    });
  });

  it('sends no descriptors when the arguments name none', () => {
    assert.equal(request(['add-net', 'tap=tap0']).fds, undefined);
    assert.equal(request(['restore', 'source_url=file:///s']).fds, undefined);
    assert.equal(request(['receive-migration', 'receiver_url=unix:/s']).fds, undefined);
  });

  it('refuses a descriptor that is not open, naming the argument, before contacting the VMM', () => {
    const cases: [string[], string][] = [
      [['add-net', 'fd=[3,9]'], 'add-net fd: file descriptor 9 is not open in nimbus-remote'],
      [['restore', 'source_url=file:///s,net_fds=[net0@[3],net1@[8]]'], 'restore net_fds (net1): file descriptor 8 is not open in nimbus-remote'],
      [['restore', 'source_url=file:///s,vfio_fds=[vfio0@12]'], 'restore vfio_fds (vfio0): file descriptor 12 is not open in nimbus-remote'],
      [['restore', 'source_url=file:///s,iommufd_fd=10'], 'restore iommufd_fd: file descriptor 10 is not open in nimbus-remote'],
      [['receive-migration', 'receiver_url=unix:/s,vfio_fds=[vfio0@11]'], 'receive-migration vfio_fds (vfio0): file descriptor 11 is not open in nimbus-remote'],
      [['receive-migration', 'receiver_url=unix:/s,vfio_fds=[vfio0@3],iommufd_fd=2000'], 'receive-migration iommufd_fd: file descriptor 2000 is not open in nimbus-remote'],
    ];
    for (const [args, message] of cases) {
      assert.throws(
        () => request(args),
        (error) => {
          assert.ok(error instanceof RemoteError, String(error));
          assert.equal(error.code, 'DESCRIPTOR_NOT_OPEN');
          assert.ok(error.message.startsWith(`${message}; `), error.message);
          assert.match(error.message, /open it in the process that starts nimbus-remote \(in a shell: \d+<>\/path\/to\/file\)$/);
          return true;
        },
        args.join(' '),
      );
    }
    assert.throws(() => request(['add-device', 'fd=-1']), (error) => {
      assert.ok(error instanceof RemoteError);
      assert.equal(error.code, 'DESCRIPTOR_NOT_OPEN');
      assert.equal(error.message, 'add-device fd: file descriptor -1 is invalid: descriptor numbers are 0 or more');
      return true;
    });
  });

  it('refuses more descriptors than one request can carry (SCM_MAX_FD)', () => {
    const fds = new Array(254).fill(3).join(',');
    assert.throws(
      () => request(['add-net', `fd=[${fds}],num_queues=508`]),
      (error) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.code, 'INVALID_ARGUMENT');
        assert.equal(error.message, 'add-net: 254 file descriptors given; at most 253 can be passed with one request');
        return true;
      },
    );
    assert.equal(request(['add-net', `fd=[${new Array(253).fill(3).join(',')}]`]).fds?.length, 253);
  });
});
