/** Tests for the --cpus/--memory/console/rng/rtc/balloon/numa/platform/pci-segment/tpm/landlock parsers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultConsoleConfig,
  defaultCpusConfig,
  defaultDebugConsoleConfig,
  defaultMemoryConfig,
  defaultPlatformConfig,
  defaultRngConfig,
  defaultSerialConfig,
} from '../vmm/config/defaults.ts';
import { CliError } from './cli-error.ts';
import { CLI_OPTIONS } from './option-table.ts';
import {
  parseBalloon,
  parseConsole,
  parseCpus,
  parseDebugConsole,
  parseLandlockRule,
  parseMemory,
  parseNuma,
  parsePciSegment,
  parsePlatform,
  parseRng,
  parseRtc,
  parseSerial,
  parseTpm,
} from './vm-option-parsers.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function defaultOf(id: string): string {
  const value = CLI_OPTIONS.find((spec) => spec.id === id)?.defaultValue;
  assert.ok(value !== undefined, `${id} has a default`);
  return value;
}

function fails(code: string, message: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof CliError);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  };
}

const noWarnings = (message: string): void => assert.fail(`unexpected warning: ${message}`);

describe('default option strings produce upstream defaults', () => {
  it('--cpus, --memory, --rng, --serial, --console, --debug-console', () => {
    assert.equal(defaultOf('cpus'), 'boot=1,max_phys_bits=46');
    assert.equal(defaultOf('memory'), 'size=512M');
    assert.equal(defaultOf('rng'), 'src=/dev/urandom');
    assert.equal(defaultOf('serial'), 'null');
    assert.equal(defaultOf('console'), 'tty');
    assert.equal(defaultOf('debug-console'), 'off,iobase=0xe9');
    assert.deepEqual(parseCpus(defaultOf('cpus')), defaultCpusConfig());
    assert.deepEqual(parseCpus(''), defaultCpusConfig());
    assert.deepEqual(parseMemory(defaultOf('memory'), undefined), defaultMemoryConfig());
    assert.deepEqual(parseMemory('', undefined), defaultMemoryConfig());
    assert.deepEqual(parseRng(defaultOf('rng')), defaultRngConfig());
    assert.deepEqual(parseSerial(defaultOf('serial')), defaultSerialConfig());
    assert.deepEqual(parseConsole(defaultOf('console')), defaultConsoleConfig());
    assert.deepEqual(parseDebugConsole(defaultOf('debug-console')), defaultDebugConsoleConfig());
  });
});

describe('parseCpus', () => {
  it('boot and max', () => {
    assert.deepEqual(parseCpus('boot=2,max=4'), { ...defaultCpusConfig(), boot_vcpus: 2, max_vcpus: 4 });
    assert.deepEqual(parseCpus('boot=3'), { ...defaultCpusConfig(), boot_vcpus: 3, max_vcpus: 3 });
  });

  it('every key', () => {
    assert.deepEqual(
      parseCpus('boot=2,max=8,topology=2:2:1:2,kvm_hyperv=on,max_phys_bits=40,affinity=[0@[0,2],1@[1,3]],features=amx,nested=off,core_scheduling=vcpu,profile=Host'),
      {
        boot_vcpus: 2,
        max_vcpus: 8,
        topology: { threads_per_core: 2, cores_per_die: 2, dies_per_package: 1, packages: 2 },
        kvm_hyperv: true,
        max_phys_bits: 40,
        affinity: [
          { vcpu: 0, host_cpus: [0, 2] },
          { vcpu: 1, host_cpus: [1, 3] },
        ],
        features: { amx: true },
        nested: false,
        core_scheduling: 'Vcpu',
        profile: 'Host',
      },
    );
    assert.equal(parseCpus('core_scheduling=OFF').core_scheduling, 'Off');
    assert.deepEqual(parseCpus('features=[amx]').features, { amx: true });
  });

  it('rejects bad topology, features, scheduling and out-of-range values', () => {
    assert.throws(
      () => parseCpus('boot=8,topology=2:2:1'),
      fails('INVALID_VALUE', '--cpus: invalid value "2:2:1" for "topology": expected <threads_per_core>:<cores_per_die>:<dies_per_package>:<packages>'),
    );
    assert.throws(() => parseCpus('topology=2:2:1:x'), CliError);
    assert.throws(() => parseCpus('features=avx'), fails('INVALID_VALUE', '--cpus: invalid value "avx" for "features": expected a list of CPU features; known features are amx'));
    assert.throws(() => parseCpus('core_scheduling=invalid'), fails('INVALID_VALUE', '--cpus: invalid value "invalid" for "core_scheduling": expected one of vm, vcpu, off'));
    assert.throws(() => parseCpus('profile=host'), CliError);
    assert.throws(() => parseCpus('max_phys_bits=256'), CliError);
    assert.throws(() => parseCpus('boot=x'), fails('INVALID_VALUE', '--cpus: invalid value "x" for "boot": expected an integer from 0 to 4294967295'));
    assert.throws(() => parseCpus('cores=2'), fails('UNKNOWN_KEY', '--cpus: unknown key "cores"; known keys are boot, max, topology, kvm_hyperv, max_phys_bits, affinity, features, nested, core_scheduling, profile'));
  });
});

describe('parseMemory', () => {
  it('size and every toggle', () => {
    assert.deepEqual(parseMemory('size=1G', undefined), { ...defaultMemoryConfig(), size: GiB });
    assert.deepEqual(
      parseMemory('size=2G,mergeable=on,shared=off,hugepages=on,hugepage_size=2M,hotplug_method=virtio-mem,hotplug_size=4G,hotplugged_size=1G,prefault=on,reserve=on,thp=off', undefined),
      {
        size: 2 * GiB,
        hotplug_size: 4 * GiB,
        hotplugged_size: GiB,
        mergeable: true,
        hotplug_method: 'VirtioMem',
        shared: false,
        hugepages: true,
        hugepage_size: 2 * MiB,
        prefault: true,
        reserve: true,
        thp: false,
      },
    );
    assert.equal(parseMemory('hotplug_method=ACPI', undefined).hotplug_method, 'Acpi');
  });

  it('zones inherit mergeable unless they set it', () => {
    assert.deepEqual(parseMemory('size=0,mergeable=on', ['id=mem0,size=1G', 'id=mem1,size=2G,mergeable=off,file=/dev/shm/x,shared=on,hugepages=on,hugepage_size=1G,host_numa_node=1,hotplug_size=1G,hotplugged_size=512M,prefault=on,reserve=on']).zones, [
      { id: 'mem0', size: GiB, mergeable: true, shared: false, hugepages: false, prefault: false, reserve: false },
      {
        id: 'mem1',
        size: 2 * GiB,
        file: '/dev/shm/x',
        mergeable: false,
        shared: true,
        hugepages: true,
        hugepage_size: GiB,
        host_numa_node: 1,
        hotplug_size: GiB,
        hotplugged_size: 512 * MiB,
        prefault: true,
        reserve: true,
      },
    ]);
    assert.equal(parseMemory('', ['id=z'])?.zones?.[0]?.size, 512 * MiB);
  });

  it('rejects a bad size, the ignored file key and a zone without id', () => {
    assert.throws(() => parseMemory('size=12X', undefined), fails('INVALID_VALUE', '--memory: invalid value "12X" for "size": expected a size like 512M or 2G'));
    assert.throws(() => parseMemory('size=1G,file=/x', undefined), fails('IGNORED_KEY', '--memory: key "file" is ignored by Cloud Hypervisor and refused by Nimbus; use --memory-zone file=<path>'));
    assert.throws(() => parseMemory('', ['size=1G']), fails('MISSING_KEY', '--memory-zone: id=<zone_identifier> is required'));
    assert.throws(() => parseMemory('hotplug_method=dimm', undefined), CliError);
  });
});

describe('serial, console and debug console', () => {
  it('serial modes', () => {
    assert.deepEqual(parseSerial('off'), { mode: 'Off' });
    assert.deepEqual(parseSerial('null'), { mode: 'Null' });
    assert.deepEqual(parseSerial('tty'), { mode: 'Tty' });
    assert.deepEqual(parseSerial('pty'), { mode: 'Pty' });
    assert.deepEqual(parseSerial('file=/tmp/x'), { mode: 'File', file: '/tmp/x' });
    assert.deepEqual(parseSerial('socket=/tmp/s'), { mode: 'Socket', socket: '/tmp/s' });
    assert.deepEqual(parseSerial('file='), { mode: 'File' }, 'left for validation to report');
  });

  it('serial rejects no mode and console-only keys', () => {
    assert.throws(() => parseSerial(''), fails('INVALID_VALUE', '--serial: no output mode given; use one of off, null, pty, tty, file=<path>, socket=<path>'));
    assert.throws(() => parseSerial('tty,iommu=on'), fails('UNKNOWN_KEY', '--serial: unknown key "iommu"; known keys are off, pty, tty, null, file, socket'));
  });

  it('console takes the PCI keys', () => {
    assert.deepEqual(parseConsole('off'), { mode: 'Off', iommu: false, pci_segment: 0 });
    assert.deepEqual(parseConsole('file=/tmp/c,iommu=on,id=con0,pci_segment=1,pci_device_id=5'), {
      mode: 'File',
      file: '/tmp/c',
      id: 'con0',
      iommu: true,
      pci_segment: 1,
      pci_device_id: 5,
    });
  });

  it('debug console iobase must be hex with 0x', () => {
    assert.deepEqual(parseDebugConsole('tty,iobase=0x402'), { mode: 'Tty', iobase: 0x402 });
    assert.deepEqual(parseDebugConsole('file=/tmp/d'), { mode: 'File', file: '/tmp/d' });
    assert.throws(
      () => parseDebugConsole('off,iobase=e9'),
      fails('INVALID_VALUE', '--debug-console: invalid value "e9" for "iobase": expected an I/O port in hex with a 0x prefix, like 0xe9'),
    );
    assert.throws(() => parseDebugConsole('off,iobase=0x10000'), CliError);
    assert.throws(() => parseDebugConsole('socket=/x'), CliError);
  });
});

describe('rng, rtc, balloon', () => {
  it('rng', () => {
    assert.deepEqual(parseRng('src=/dev/random,iommu=on,id=rng0,pci_segment=0,pci_device_id=4'), {
      src: '/dev/random',
      id: 'rng0',
      iommu: true,
      pci_segment: 0,
      pci_device_id: 4,
    });
  });

  it('rtc with and without keys', () => {
    assert.deepEqual(parseRtc(''), { iommu: false, pci_segment: 0 });
    assert.deepEqual(parseRtc('id=rtc0,iommu=on'), { id: 'rtc0', iommu: true, pci_segment: 0 });
  });

  it('balloon', () => {
    assert.deepEqual(parseBalloon('size=1G,deflate_on_oom=on,free_page_reporting=on,id=b0'), {
      id: 'b0',
      iommu: false,
      pci_segment: 0,
      size: GiB,
      deflate_on_oom: true,
      free_page_reporting: true,
    });
    assert.equal(parseBalloon('').size, 0);
    assert.throws(() => parseBalloon('pci_device_id=256'), CliError);
  });
});

describe('parseNuma', () => {
  it('every key', () => {
    assert.deepEqual(parseNuma('guest_numa_id=1,cpus=[0-2,4],distances=[0@20,2@15],memory_zones=[mem0,mem1],pci_segments=[1,2]'), {
      guest_numa_id: 1,
      cpus: [0, 1, 2, 4],
      distances: [
        { destination: 0, distance: 20 },
        { destination: 2, distance: 15 },
      ],
      memory_zones: ['mem0', 'mem1'],
      pci_segments: [1, 2],
    });
    assert.deepEqual(parseNuma('guest_numa_id=2,device_id=vfio0'), { guest_numa_id: 2, device_id: 'vfio0' });
  });

  it('requires guest_numa_id and checks distances', () => {
    assert.throws(() => parseNuma('cpus=[0]'), fails('MISSING_KEY', '--numa: guest_numa_id=<node_id> is required for every NUMA node'));
    assert.throws(() => parseNuma('guest_numa_id=0,distances=[1@300]'), CliError);
  });
});

describe('parsePlatform', () => {
  it('defaults and every key', () => {
    assert.deepEqual(parsePlatform('', noWarnings), defaultPlatformConfig());
    assert.deepEqual(
      parsePlatform(
        'num_pci_segments=2,iommu_segments=[1],iommu_address_width=48,iommufd=on,iommufd_fd=7,vfio_p2p_dma=off,system_manufacturer=ACME,system_product_name=Box,system_version=1,system_serial_number=S1,system_uuid=U1,system_sku_number=K1,system_family=F,oem_strings=[a,"b,c"],chassis_asset_tag=T',
        noWarnings,
      ),
      {
        num_pci_segments: 2,
        iommu_segments: [1],
        iommu_address_width_bits: 48,
        system_serial_number: 'S1',
        system_uuid: 'U1',
        oem_strings: ['a', 'b,c'],
        system_manufacturer: 'ACME',
        system_product_name: 'Box',
        system_version: '1',
        system_family: 'F',
        system_sku_number: 'K1',
        chassis_asset_tag: 'T',
        iommufd: true,
        iommufd_fd: 7,
        vfio_p2p_dma: false,
      },
    );
  });

  it('iommufd_fd implies iommufd unless set explicitly', () => {
    assert.equal(parsePlatform('iommufd_fd=5', noWarnings).iommufd, true);
    assert.equal(parsePlatform('iommufd_fd=5,iommufd=off', noWarnings).iommufd, false);
  });

  it('deprecated aliases fill the new fields with a warning', () => {
    const warnings: string[] = [];
    const platform = parsePlatform('serial_number=S,uuid=U', (message) => warnings.push(message));
    assert.equal(platform.system_serial_number, 'S');
    assert.equal(platform.system_uuid, 'U');
    assert.deepEqual(warnings, [
      "'serial_number' in --platform is deprecated; use 'system_serial_number'.",
      "'uuid' in --platform is deprecated; use 'system_uuid'.",
    ]);
  });
});

describe('pci-segment, tpm, landlock-rules', () => {
  it('pci segment defaults weights to 1', () => {
    assert.deepEqual(parsePciSegment('pci_segment=0'), { pci_segment: 0, mmio32_aperture_weight: 1, mmio64_aperture_weight: 1 });
    assert.deepEqual(parsePciSegment('pci_segment=1,mmio32_aperture_weight=2,mmio64_aperture_weight=3'), {
      pci_segment: 1,
      mmio32_aperture_weight: 2,
      mmio64_aperture_weight: 3,
    });
  });

  it('tpm needs socket', () => {
    assert.deepEqual(parseTpm('socket=/run/swtpm.sock'), { socket: '/run/swtpm.sock' });
    assert.throws(() => parseTpm(''), fails('MISSING_KEY', '--tpm: socket=</path/to/a/socket> is required'));
  });

  it('landlock rules need path and access', () => {
    assert.deepEqual(parseLandlockRule('path=/tmp,access=rw'), { path: '/tmp', access: 'rw' });
    assert.throws(() => parseLandlockRule('path=/tmp'), fails('MISSING_KEY', '--landlock-rules: access=[rw] is required'));
  });
});
