/** Tests for the --api-socket, --event-monitor and --restore parsers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError } from './cli-error.ts';
import { parseApiSocket, parseEventMonitor, parseRestore } from './vmm-option-parsers.ts';

describe('parseApiSocket', () => {
  it('accepts path=, fd= and a bare path', () => {
    assert.deepEqual(parseApiSocket('path=/tmp/api.sock'), { path: '/tmp/api.sock' });
    assert.deepEqual(parseApiSocket('fd=5'), { fd: 5 });
    assert.deepEqual(parseApiSocket('/tmp/api.sock'), { path: '/tmp/api.sock' });
    assert.deepEqual(parseApiSocket('/tmp/odd=name'), { path: '/tmp/odd=name' });
  });

  it('rejects a non-numeric fd', () => {
    assert.throws(() => parseApiSocket('fd=x'), (error: unknown) => error instanceof CliError && error.message === '--api-socket: invalid value "x" for "fd": expected an integer from -2147483648 to 2147483647');
  });
});

describe('parseEventMonitor', () => {
  it('accepts path= and fd=', () => {
    assert.deepEqual(parseEventMonitor('path=/tmp/events'), { path: '/tmp/events' });
    assert.deepEqual(parseEventMonitor('fd=4'), { fd: 4 });
  });

  it('needs one of them', () => {
    assert.throws(() => parseEventMonitor(''), (error: unknown) => error instanceof CliError && error.code === 'MISSING_KEY');
    assert.throws(() => parseEventMonitor('/tmp/events'), (error: unknown) => error instanceof CliError && error.code === 'UNKNOWN_KEY');
  });
});

describe('parseRestore', () => {
  it('defaults', () => {
    assert.deepEqual(parseRestore('source_url=file:///tmp/snap'), {
      source_url: 'file:///tmp/snap',
      prefault: false,
      memory_restore_mode: 'Copy',
      resume: false,
      zone_updates: [],
    });
  });

  it('every key', () => {
    assert.deepEqual(
      parseRestore('source_url=file:///s,prefault=off,memory_restore_mode=OnDemand,net_fds=[net0@[3,4],net1@[5]],vfio_fds=[vfio0@6],iommufd_fd=7,resume=true,zone_updates=[mem0@1]'),
      {
        source_url: 'file:///s',
        prefault: false,
        memory_restore_mode: 'OnDemand',
        net_fds: [
          { id: 'net0', num_fds: 2, fds: [3, 4] },
          { id: 'net1', num_fds: 1, fds: [5] },
        ],
        vfio_fds: [{ id: 'vfio0', fd: 6 }],
        iommufd_fd: 7,
        resume: true,
        zone_updates: [{ id: 'mem0', host_numa_node: 1 }],
      },
    );
  });

  it('rejects prefault with ondemand and a missing source_url', () => {
    assert.throws(() => parseRestore('source_url=file:///s,prefault=on,memory_restore_mode=ondemand'), CliError);
    assert.throws(() => parseRestore('prefault=on'), (error: unknown) => error instanceof CliError && error.message === '--restore: source_url=<source_url> is required');
  });
});
