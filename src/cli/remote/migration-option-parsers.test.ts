/** Tests for the send-migration / receive-migration argument syntax: defaults, conversions and upstream's checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError } from '../cli-error.ts';
import { parseReceiveMigration, parseSendMigration, tcpAddressProblem } from './migration-option-parsers.ts';
import { RemoteError } from './remote-error.ts';

function fails(kind: typeof CliError | typeof RemoteError, code: string, message: string | RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
    assert.equal(error.code, code);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}

describe('tcpAddressProblem', () => {
  it('accepts host:port and [ipv6]:port', () => {
    assert.equal(tcpAddressProblem('192.168.1.2:6000'), undefined);
    assert.equal(tcpAddressProblem('dst.example:65535'), undefined);
    assert.equal(tcpAddressProblem('[::1]:6000'), undefined);
  });

  it('names what is wrong', () => {
    assert.equal(tcpAddressProblem('host'), 'missing TCP port');
    assert.equal(tcpAddressProblem(':6000'), 'host must not be empty');
    assert.equal(tcpAddressProblem('host:'), 'port must not be empty');
    assert.equal(tcpAddressProblem('host:65536'), 'invalid TCP port: 65536');
    assert.equal(tcpAddressProblem('[::1:6000'), "missing closing ']' for bracketed IPv6 address");
    assert.equal(tcpAddressProblem('[::1]6000'), 'missing port separator after bracketed host');
  });
});

describe('parseSendMigration', () => {
  it('fills upstream defaults (downtime 300 ms, timeout 3600 s, Cancel, 1 connection, Precopy)', () => {
    assert.deepEqual(parseSendMigration('destination_url=tcp:10.0.0.2:6000'), {
      destination_url: 'tcp:10.0.0.2:6000',
      local: false,
      downtime_ms: 300,
      timeout_s: 3600,
      timeout_strategy: 'Cancel',
      connections: 1,
      memory_mode: 'Precopy',
    });
  });

  it('converts every key; preserve_source is sent only when on', () => {
    assert.deepEqual(
      parseSendMigration('destination_url=tcp:[::1]:6000,downtime_ms=200,timeout_s=60,timeout_strategy=IGNORE,connections=4,tls_dir=/etc/tls'),
      {
        destination_url: 'tcp:[::1]:6000',
        local: false,
        downtime_ms: 200,
        timeout_s: 60,
        timeout_strategy: 'Ignore',
        connections: 4,
        tls_dir: '/etc/tls',
        memory_mode: 'Precopy',
      },
    );
    assert.deepEqual(parseSendMigration('destination_url=unix:/tmp/offload.sock,local=on,preserve_source=on'), {
      destination_url: 'unix:/tmp/offload.sock',
      local: true,
      preserve_source: true,
      downtime_ms: 300,
      timeout_s: 3600,
      timeout_strategy: 'Cancel',
      connections: 1,
      memory_mode: 'Precopy',
    });
    assert.equal(parseSendMigration('destination_url=tcp:h:1,memory_mode=postcopy').memory_mode, 'Postcopy');
  });

  it('refuses bad syntax and values with the key named', () => {
    assert.throws(() => parseSendMigration('local=on'), fails(CliError, 'MISSING_KEY', 'send-migration: destination_url=<url> is required'));
    assert.throws(() => parseSendMigration('destination_url=unix:/a,speed=1'), fails(CliError, 'UNKNOWN_KEY', /unknown key "speed"/));
    assert.throws(() => parseSendMigration('destination_url=unix:/a,local=maybe'), fails(CliError, 'INVALID_VALUE', /"local"/));
    assert.throws(() => parseSendMigration('destination_url=tcp:h:1,timeout_strategy=retry'), fails(CliError, 'INVALID_VALUE', /one of cancel, ignore/));
    assert.throws(() => parseSendMigration('destination_url=tcp:h:1,memory_mode=fast'), fails(CliError, 'INVALID_VALUE', /one of precopy, postcopy/));
  });

  it('applies upstream validation of the URL and of the option combinations', () => {
    const cases: [string, string][] = [
      ['destination_url=http://x', 'destination_url "http://x" must use tcp:<host>:<port> or unix:<path>'],
      ['destination_url=unix:', 'destination_url "unix:" must use tcp:<host>:<port> or unix:<path>'],
      ['destination_url=tcp:host', 'destination_url "tcp:host": missing TCP port; expected tcp:<host>:<port> or unix:<path>'],
      ['destination_url=tcp:h:1,downtime_ms=0', 'downtime_ms must be non-zero'],
      ['destination_url=tcp:h:1,timeout_s=0', 'timeout_s must be non-zero'],
      ['destination_url=tcp:h:1,connections=0', 'connections must be non-zero'],
      ['destination_url=tcp:h:1,connections=129', 'connections must not exceed 128.'],
      ['destination_url=unix:/a,connections=2', 'UNIX sockets and connections option cannot be used at the same time.'],
      ['destination_url=unix:/a,tls_dir=/t', 'UNIX sockets and TLS encryption cannot be used at the same time.'],
      ['destination_url=tcp:h:1,local=on', 'local option is only supported with UNIX sockets.'],
      ['destination_url=tcp:h:1,preserve_source=on', 'preserve_source option is only supported with the local option.'],
      ['destination_url=unix:/a,local=on,memory_mode=postcopy', 'memory_mode=postcopy and local options are mutually exclusive.'],
      ['destination_url=tcp:h:1,connections=2,memory_mode=postcopy', 'memory_mode=postcopy currently requires a single connection (connections=1).'],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => parseSendMigration(input), fails(RemoteError, 'INVALID_ARGUMENT', message), input);
    }
  });
});

describe('parseReceiveMigration', () => {
  it('fills the memory mode and the zone updates like upstream', () => {
    assert.deepEqual(parseReceiveMigration('receiver_url=unix:/tmp/sock'), {
      receiver_url: 'unix:/tmp/sock',
      memory_mode: 'Precopy',
      zone_updates: [],
    });
    assert.deepEqual(parseReceiveMigration('receiver_url=tcp:0.0.0.0:6000,tls_dir=/tls,memory_mode=Postcopy,zone_updates=[mem0@1,mem1@0]'), {
      receiver_url: 'tcp:0.0.0.0:6000',
      tls_dir: '/tls',
      memory_mode: 'Postcopy',
      zone_updates: [{ id: 'mem0', host_numa_node: 1 }, { id: 'mem1', host_numa_node: 0 }],
    });
  });

  it('requires the receiver_url key (a bare URL is not accepted, as upstream)', () => {
    assert.throws(() => parseReceiveMigration('unix:/tmp/sock'), fails(CliError, 'UNKNOWN_KEY', /unknown key "unix:\/tmp\/sock"/));
    assert.throws(() => parseReceiveMigration('tls_dir=/t'), fails(CliError, 'MISSING_KEY', 'receive-migration: receiver_url=<url> is required'));
  });

  it('parses the VFIO and iommufd descriptors (vfio_fds, iommufd_fd) like upstream', () => {
    assert.deepEqual(parseReceiveMigration('receiver_url=unix:/s,vfio_fds=[vfio0@5,"gpu,1"@6],iommufd_fd=7'), {
      receiver_url: 'unix:/s',
      memory_mode: 'Precopy',
      vfio_fds: [{ id: 'vfio0', fd: 5 }, { id: 'gpu,1', fd: 6 }],
      iommufd_fd: 7,
      zone_updates: [],
    });
    assert.throws(() => parseReceiveMigration('receiver_url=unix:/s,vfio_fds=[vfio0@x]'), fails(CliError, 'INVALID_VALUE', /vfio_fds/));
    assert.throws(() => parseReceiveMigration('receiver_url=unix:/s,iommufd_fd=-'), fails(CliError, 'INVALID_VALUE', /iommufd_fd/));
  });

  it('applies upstream validation', () => {
    const cases: [string, string | RegExp][] = [
      ['receiver_url=ftp://x', 'receiver_url "ftp://x" must use tcp:<host>:<port> or unix:<path>'],
      ['receiver_url=tcp::6000', /host must not be empty/],
      ['receiver_url=unix:/s,tls_dir=/t', 'UNIX sockets and TLS encryption cannot be used at the same time'],
      ['receiver_url=unix:/s,zone_updates=[mem0@1,mem0@2]', 'More than one update was defined for at least one memory zone'],
      ['receiver_url=unix:/s,zone_updates=[""@1]', 'One or more memory zone updates contained an empty ID'],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => parseReceiveMigration(input), fails(RemoteError, 'INVALID_ARGUMENT', message), input);
    }
    assert.throws(() => parseReceiveMigration('receiver_url=unix:/s,zone_updates=[mem0@x]'), fails(CliError, 'INVALID_VALUE', /zone_updates/));
  });
});
