/** Tests for the device option parsers: every key round-trips into the config, defaults match upstream. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError } from './cli-error.ts';
import {
  parseDevice,
  parseDisk,
  parseFs,
  parseGenericVhostUser,
  parseNet,
  parsePmem,
  parseRateLimitGroup,
  parseUserDevice,
  parseVdpa,
  parseVsock,
} from './device-option-parsers.ts';

const MiB = 1024 ** 2;

function fails(code: string, message: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof CliError);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  };
}

const noWarnings = (message: string): void => assert.fail(`unexpected warning: ${message}`);

const DISK_DEFAULTS = {
  iommu: false,
  pci_segment: 0,
  readonly: false,
  direct: false,
  num_queues: 1,
  queue_size: 128,
  vhost_user: false,
  disable_io_uring: false,
  disable_aio: false,
  backing_files: false,
  sparse: true,
  image_type: 'Unknown',
  lock_granularity: 'ByteRange',
} as const;

describe('parseDisk', () => {
  it('path only gives upstream defaults', () => {
    assert.deepEqual(parseDisk('path=/path/to_file'), { ...DISK_DEFAULTS, path: '/path/to_file' });
  });

  it('every key', () => {
    assert.deepEqual(
      parseDisk(
        'path=/img,readonly=on,direct=on,iommu=on,num_queues=2,queue_size=256,bw_size=1000,bw_one_time_burst=10,bw_refill_time=100,ops_size=50,ops_refill_time=10,id=disk0,pci_segment=1,pci_device_id=3,queue_affinity=[0@[1],1@[2,3]],serial=SER,backing_files=on,sparse=off,image_type=qcow2,lock_granularity=full,_disable_io_uring=on,_disable_aio=on',
      ),
      {
        path: '/img',
        readonly: true,
        direct: true,
        iommu: true,
        num_queues: 2,
        queue_size: 256,
        vhost_user: false,
        rate_limiter_config: {
          bandwidth: { size: 1000, one_time_burst: 10, refill_time: 100 },
          ops: { size: 50, one_time_burst: 0, refill_time: 10 },
        },
        disable_io_uring: true,
        disable_aio: true,
        id: 'disk0',
        pci_segment: 1,
        pci_device_id: 3,
        queue_affinity: [
          { queue_index: 0, host_cpus: [1] },
          { queue_index: 1, host_cpus: [2, 3] },
        ],
        serial: 'SER',
        backing_files: true,
        sparse: false,
        image_type: 'Qcow2',
        lock_granularity: 'Full',
      },
    );
  });

  it('vhost-user disk: socket, and image_type is ignored', () => {
    assert.deepEqual(parseDisk('vhost_user=on,socket=/tmp/sock,image_type=bogus,rate_limit_group=g0'), {
      ...DISK_DEFAULTS,
      vhost_user: true,
      vhost_socket: '/tmp/sock',
      rate_limit_group: 'g0',
    });
  });

  it('a rate limiter needs both size and refill time', () => {
    assert.equal(parseDisk('path=/a,bw_size=100').rate_limiter_config, undefined);
  });

  it('image types', () => {
    assert.equal(parseDisk('path=/a,image_type=raw').image_type, 'Raw');
    assert.equal(parseDisk('path=/a,image_type=VHD').image_type, 'FixedVhd');
    assert.equal(parseDisk('path=/a,image_type=vhdx').image_type, 'Vhdx');
    assert.equal(parseDisk('path=/a,image_type=vmdk').image_type, 'FlatVmdk');
    assert.throws(() => parseDisk('path=/a,image_type=iso'), fails('INVALID_VALUE', '--disk: invalid value "iso" for "image_type": expected one of raw, qcow2, vhd, vhdx, vmdk'));
    assert.throws(() => parseDisk('path=/a,lock_granularity=Full'), CliError);
  });

  it('rejects bad toggles, sizes and unknown keys', () => {
    assert.throws(() => parseDisk('path=/a,readonly=yes'), fails('INVALID_VALUE', '--disk: invalid value "yes" for "readonly": expected on, off, true or false'));
    assert.throws(() => parseDisk('path=/a,queue_size=65536'), fails('INVALID_VALUE', '--disk: invalid value "65536" for "queue_size": expected an integer from 0 to 65535'));
    assert.throws(() => parseDisk('file=/a'), CliError);
  });
});

describe('parseNet', () => {
  it('defaults', () => {
    assert.deepEqual(parseNet('tap=tap0'), {
      tap: 'tap0',
      iommu: false,
      pci_segment: 0,
      num_queues: 2,
      queue_size: 256,
      vhost_user: false,
      vhost_mode: 'Client',
      offload_tso: true,
      offload_ufo: true,
      offload_csum: true,
    });
  });

  it('every key', () => {
    assert.deepEqual(
      parseNet(
        'tap=tap1,ip=192.168.2.1,mask=255.255.255.0,mac=12:34:56:78:9A:BC,host_mac=02:00:00:00:00:01,mtu=1500,num_queues=4,queue_size=512,id=net0,iommu=on,pci_segment=0,pci_device_id=2,offload_tso=off,offload_ufo=off,offload_csum=off,fd=[3,4],bw_size=1,bw_refill_time=2',
      ),
      {
        tap: 'tap1',
        ip: '192.168.2.1',
        mask: '255.255.255.0',
        mac: '12:34:56:78:9a:bc',
        host_mac: '02:00:00:00:00:01',
        mtu: 1500,
        num_queues: 4,
        queue_size: 512,
        vhost_user: false,
        vhost_mode: 'Client',
        fds: [3, 4],
        rate_limiter_config: { bandwidth: { size: 1, one_time_burst: 0, refill_time: 2 } },
        id: 'net0',
        iommu: true,
        pci_segment: 0,
        pci_device_id: 2,
        offload_tso: false,
        offload_ufo: false,
        offload_csum: false,
      },
    );
  });

  it('vhost-user net', () => {
    const net = parseNet('vhost_user=true,socket=/tmp/n.sock,vhost_mode=Server');
    assert.equal(net.vhost_user, true);
    assert.equal(net.vhost_socket, '/tmp/n.sock');
    assert.equal(net.vhost_mode, 'Server');
  });

  it('IPv6 addresses', () => {
    assert.equal(parseNet('ip=fe80::1,mask=ffff:ffff:ffff:ffff::').ip, 'fe80::1');
    assert.equal(parseNet('ip=::ffff:10.0.0.1,mask=::').ip, '::ffff:10.0.0.1');
    assert.equal(parseNet('ip=1:2:3:4:5:6:7:8,mask=::').ip, '1:2:3:4:5:6:7:8');
  });

  it('rejects malformed addresses', () => {
    assert.throws(() => parseNet('ip=192.168.1'), fails('INVALID_VALUE', '--net: invalid value "192.168.1" for "ip": expected an IPv4 or IPv6 address'));
    assert.throws(() => parseNet('ip=256.1.1.1'), CliError);
    assert.throws(() => parseNet('ip=01.1.1.1'), CliError);
    assert.throws(() => parseNet('ip=1::2::3'), CliError);
    assert.throws(() => parseNet('ip=1:2:3:4:5:6:7:8:9'), CliError);
    assert.throws(() => parseNet('mac=12:34:56:78:9a'), fails('INVALID_VALUE', '--net: invalid value "12:34:56:78:9a" for "mac": expected a MAC address like 12:34:56:78:9a:bc'));
    assert.throws(() => parseNet('mac=12:34:56:78:9a:bg'), CliError);
  });
});

describe('parseFs, parsePmem', () => {
  it('fs with defaults and required keys', () => {
    assert.deepEqual(parseFs('tag=myfs,socket=/tmp/fs.sock'), {
      tag: 'myfs',
      socket: '/tmp/fs.sock',
      num_queues: 1,
      queue_size: 1024,
      iommu: false,
      pci_segment: 0,
    });
    assert.deepEqual(parseFs('tag=t,socket=/s,num_queues=2,queue_size=512,id=fs0,pci_segment=1,pci_device_id=9'), {
      tag: 't',
      socket: '/s',
      num_queues: 2,
      queue_size: 512,
      id: 'fs0',
      iommu: false,
      pci_segment: 1,
      pci_device_id: 9,
    });
    assert.throws(() => parseFs('socket=/s'), fails('MISSING_KEY', '--fs: tag=<tag_name> is required'));
    assert.throws(() => parseFs('tag=t'), fails('MISSING_KEY', '--fs: socket=<socket_path> is required'));
    assert.throws(() => parseFs('tag=t,socket=/s,iommu=on'), fails('UNKNOWN_KEY', '--fs: unknown key "iommu"; known keys are tag, queue_size, num_queues, socket, id, pci_segment, pci_device_id'));
  });

  it('pmem', () => {
    assert.deepEqual(parsePmem('file=/tmp/pmem,size=128M,discard_writes=on,iommu=on,id=pmem0'), {
      file: '/tmp/pmem',
      size: 128 * MiB,
      discard_writes: true,
      id: 'pmem0',
      iommu: true,
      pci_segment: 0,
    });
    assert.deepEqual(parsePmem('file=/tmp/pmem'), { file: '/tmp/pmem', discard_writes: false, iommu: false, pci_segment: 0 });
    assert.throws(() => parsePmem('size=1G'), fails('MISSING_KEY', '--pmem: file=<backing_file_path> is required'));
  });
});

describe('parseGenericVhostUser', () => {
  it('symbolic and numeric device types', () => {
    assert.deepEqual(parseGenericVhostUser('device_type=fs,socket=/tmp/s,queue_sizes=[1024,1024],id=g0', noWarnings), {
      socket: '/tmp/s',
      queue_sizes: [1024, 1024],
      device_type: 26,
      id: 'g0',
      iommu: false,
      pci_segment: 0,
    });
    assert.equal(parseGenericVhostUser('device_type=42,socket=/s,queue_sizes=[8]', noWarnings).device_type, 42);
    assert.equal(parseGenericVhostUser('device_type=usb,socket=/s,queue_sizes=[8]', noWarnings).device_type, 49);
  });

  it('virtio_id is a deprecated alias', () => {
    const warnings: string[] = [];
    assert.equal(parseGenericVhostUser('virtio_id=block,socket=/s,queue_sizes=[8]', (message) => warnings.push(message)).device_type, 2);
    assert.deepEqual(warnings, ["'virtio_id' in --generic-vhost-user is deprecated; use 'device_type'."]);
  });

  it('rejects leading zeros, unknown names and missing keys', () => {
    assert.throws(
      () => parseGenericVhostUser('device_type=026,socket=/s,queue_sizes=[8]', noWarnings),
      fails('INVALID_VALUE', '--generic-vhost-user: invalid value "026" for "device_type": expected a virtio device type name (net, block, fs, ...) or a decimal id without leading zeros'),
    );
    assert.throws(() => parseGenericVhostUser('device_type=floppy,socket=/s,queue_sizes=[8]', noWarnings), CliError);
    assert.throws(() => parseGenericVhostUser('device_type=fs,queue_sizes=[8]', noWarnings), fails('MISSING_KEY', '--generic-vhost-user: socket=<socket_path> is required'));
    assert.throws(() => parseGenericVhostUser('device_type=fs,socket=/s', noWarnings), fails('MISSING_KEY', '--generic-vhost-user: queue_sizes=<list of queue sizes> is required'));
    assert.throws(() => parseGenericVhostUser('socket=/s,queue_sizes=[8]', noWarnings), fails('MISSING_KEY', '--generic-vhost-user: device_type=<virtio device type> is required'));
    assert.throws(() => parseGenericVhostUser('device_type=fs,socket=/s,queue_sizes=[70000]', noWarnings), CliError);
  });
});

describe('parseDevice, parseUserDevice, parseVdpa, parseVsock, parseRateLimitGroup', () => {
  it('device', () => {
    assert.deepEqual(parseDevice('path=/sys/bus/pci/devices/0000:01:00.0/,iommu=on,id=gpu0,x_nv_gpudirect_clique=1,x_exclude_mmap_bars=[0,2]'), {
      path: '/sys/bus/pci/devices/0000:01:00.0/',
      id: 'gpu0',
      iommu: true,
      pci_segment: 0,
      x_nv_gpudirect_clique: 1,
      x_exclude_mmap_bars: [0, 2],
    });
    assert.deepEqual(parseDevice('fd=9'), { fd: 9, iommu: false, pci_segment: 0, x_exclude_mmap_bars: [] });
  });

  it('user device', () => {
    assert.deepEqual(parseUserDevice('socket=/tmp/u,id=u0,pci_segment=0,pci_device_id=7'), {
      socket: '/tmp/u',
      id: 'u0',
      iommu: false,
      pci_segment: 0,
      pci_device_id: 7,
    });
    assert.throws(() => parseUserDevice('id=u0'), fails('MISSING_KEY', '--user-device: socket=<socket_path> is required'));
  });

  it('vdpa', () => {
    assert.deepEqual(parseVdpa('path=/dev/vhost-vdpa-0,num_queues=2,iommu=on'), {
      path: '/dev/vhost-vdpa-0',
      num_queues: 2,
      iommu: true,
      pci_segment: 0,
    });
    assert.equal(parseVdpa('path=/dev/vhost-vdpa-0').num_queues, 1);
    assert.throws(() => parseVdpa('num_queues=2'), fails('MISSING_KEY', '--vdpa: path=<device_path> is required'));
  });

  it('vsock', () => {
    assert.deepEqual(parseVsock('cid=3,socket=/tmp/v.sock,id=v0'), { cid: 3, socket: '/tmp/v.sock', id: 'v0', iommu: false, pci_segment: 0 });
    assert.throws(() => parseVsock('cid=3'), fails('MISSING_KEY', '--vsock: socket=<socket_path> is required'));
    assert.throws(() => parseVsock('socket=/s'), fails('MISSING_KEY', '--vsock: cid=<context_id> is required'));
  });

  it('rate limit group', () => {
    assert.deepEqual(parseRateLimitGroup('id=group0,bw_size=1000,bw_refill_time=100'), {
      id: 'group0',
      rate_limiter_config: { bandwidth: { size: 1000, one_time_burst: 0, refill_time: 100 } },
    });
    assert.deepEqual(parseRateLimitGroup('id=group0,ops_size=1000,ops_refill_time=100'), {
      id: 'group0',
      rate_limiter_config: { ops: { size: 1000, one_time_burst: 0, refill_time: 100 } },
    });
    assert.deepEqual(parseRateLimitGroup(''), { id: '', rate_limiter_config: {} });
  });
});
