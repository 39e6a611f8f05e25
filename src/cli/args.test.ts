/** Tests for the command-line parser: tokenizing like clap, building the config, validation and the support checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../vmm/config/config-error.ts';
import { defaultVmConfig } from '../vmm/config/defaults.ts';
import type { VmConfig } from '../vmm/config/vm-config.ts';
import { parseCloudHypervisorCommandLine, parseCommandLine, type RunCommand } from './args.ts';
import { CliError } from './cli-error.ts';
import { parseDevice, parseDisk, parseFs, parseGenericVhostUser, parseNet, parsePmem, parseRateLimitGroup, parseUserDevice, parseVdpa, parseVsock } from './device-option-parsers.ts';
import { helpText } from './help.ts';
import { parseBalloon, parseCpus, parseLandlockRule, parseMemory, parseNuma, parsePciSegment, parsePlatform, parseRng, parseTpm } from './vm-option-parsers.ts';

const VERSION = '0.1.0';
const GiB = 1024 ** 3;

function run(args: string[]): RunCommand {
  const command = parseCommandLine(args, VERSION);
  assert.equal(command.kind, 'run');
  return command;
}

function runCompatible(args: string[]): RunCommand {
  const command = parseCloudHypervisorCommandLine(args, VERSION);
  assert.equal(command.kind, 'run');
  return command;
}

function vmOf(args: string[]): VmConfig {
  const vm = run(args).vm;
  assert.ok(vm !== undefined);
  return vm;
}

function fails(kind: typeof CliError | typeof ConfigError, code: string, message?: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message !== undefined) assert.equal(error.message, message);
    return true;
  };
}

describe('help and version', () => {
  it('no arguments prints help (arg_required_else_help)', () => {
    assert.deepEqual(parseCommandLine([], VERSION), { kind: 'help', text: helpText() });
  });

  it('-h and --help print help wherever they appear', () => {
    assert.equal(parseCommandLine(['-h'], VERSION).kind, 'help');
    assert.equal(parseCommandLine(['--kernel', 'k', '--help', '--bogus'], VERSION).kind, 'help');
  });

  it('-V and --version print "nimbus <version>"', () => {
    assert.deepEqual(parseCommandLine(['-V'], VERSION), { kind: 'version', text: 'nimbus 0.1.0' });
    assert.deepEqual(parseCommandLine(['--version', '-v'], VERSION), { kind: 'version', text: 'nimbus 0.1.0' });
    assert.deepEqual(parseCommandLine(['-vV'], VERSION), { kind: 'version', text: 'nimbus 0.1.0' });
  });
});

describe('supported options', () => {
  it('--kernel alone gives upstream defaults', () => {
    const command = run(['--kernel', 'vmlinux']);
    assert.deepEqual(command.vm, defaultVmConfig({ kernel: 'vmlinux' }));
    assert.deepEqual(command.vmm, { verbosity: 0, noShutdown: false });
    assert.deepEqual([...command.explicitFields], ['payload']);
    assert.deepEqual(command.warnings, []);
  });

  it('--cpus boot=2,max=4', () => {
    const cpus = vmOf(['--kernel', 'k', '--cpus', 'boot=2,max=4']).cpus;
    assert.equal(cpus.boot_vcpus, 2);
    assert.equal(cpus.max_vcpus, 4);
  });

  it('--cpus topology and max_phys_bits are accepted', () => {
    const cpus = vmOf(['--kernel', 'k', '--cpus', 'boot=2,topology=1:2:1:1,max_phys_bits=39']).cpus;
    assert.deepEqual(cpus.topology, { threads_per_core: 1, cores_per_die: 2, dies_per_package: 1, packages: 1 });
    assert.equal(cpus.max_phys_bits, 39);
  });

  it('--memory size=1G', () => {
    assert.equal(vmOf(['--kernel', 'k', '--memory', 'size=1G']).memory.size, GiB);
  });

  it('--serial file=/tmp/x and the other implemented modes', () => {
    assert.deepEqual(vmOf(['--kernel', 'k', '--serial', 'file=/tmp/x']).serial, { mode: 'File', file: '/tmp/x' });
    assert.equal(vmOf(['--kernel', 'k', '--serial', 'tty']).serial.mode, 'Tty');
    assert.equal(vmOf(['--kernel', 'k', '--serial', 'off']).serial.mode, 'Off');
    assert.equal(vmOf(['--kernel', 'k', '--serial', 'null']).serial.mode, 'Null');
  });

  it('--kernel k --cmdline "console=ttyS0 root=/dev/vda" --initramfs', () => {
    assert.deepEqual(vmOf(['--kernel', 'k', '--cmdline', 'console=ttyS0 root=/dev/vda', '--initramfs', 'initrd']).payload, {
      kernel: 'k',
      cmdline: 'console=ttyS0 root=/dev/vda',
      initramfs: 'initrd',
    });
  });

  it('--opt=value form, including values that start with "-"', () => {
    assert.deepEqual(vmOf(['--kernel=k', '--cmdline=-quiet']).payload, { kernel: 'k', cmdline: '-quiet' });
  });

  it('-vvv is counted, as are repeated -v', () => {
    assert.equal(run(['-vvv']).vmm.verbosity, 3);
    assert.equal(run(['-v', '-v', '--kernel', 'k']).vmm.verbosity, 2);
  });

  it('--log-file', () => {
    assert.equal(run(['--log-file', '/tmp/nimbus.log']).vmm.logFile, '/tmp/nimbus.log');
  });

  it('no payload: the VMM runs without a VM', () => {
    assert.equal(run(['-v']).vm, undefined);
  });

  it('--firmware is a payload; its cmdline and initramfs are dropped with warnings', () => {
    const command = run(['--firmware', 'fw.elf', '--cmdline', 'x', '--initramfs', 'i']);
    assert.deepEqual(command.vm?.payload, { firmware: 'fw.elf' });
    assert.deepEqual(command.warnings, [
      'Ignoring --cmdline as a firmware is provided as the payload',
      'Ignoring --initramfs as a firmware is provided as the payload',
    ]);
  });

  it('--console off is accepted; an omitted --console keeps the upstream tty default', () => {
    assert.equal(vmOf(['--kernel', 'k', '--console', 'off']).console.mode, 'Off');
    assert.equal(vmOf(['--kernel', 'k']).console.mode, 'Tty');
  });

  it('--debug-console off is accepted', () => {
    assert.equal(vmOf(['--kernel', 'k', '--debug-console', 'off']).debug_console.mode, 'Off');
  });
});

describe('not supported by Nimbus yet', () => {
  const cases: [string[], string][] = [
    [['--kernel', 'k', '--console', 'tty'], '--console tty is not supported by Nimbus yet (no virtio-console yet); use --console off [console.mode]'],
    [['--kernel', 'k', '--console', 'pty'], '--console pty is not supported by Nimbus yet (no virtio-console yet); use --console off [console.mode]'],
    [['--kernel', 'k', '--rng', 'src=/dev/urandom,iommu=on'], '--rng iommu=on is not supported by Nimbus yet (no virtual IOMMU yet) [rng.iommu]'],
    [['--kernel', 'k', '--serial', 'pty'], '--serial pty is not supported by Nimbus yet; use off, null, tty or file=<path> [serial.mode]'],
    [['--kernel', 'k', '--serial', 'socket=/tmp/s'], '--serial socket is not supported by Nimbus yet; use off, null, tty or file=<path> [serial.mode]'],
    [['--kernel', 'k', '--cpus', 'kvm_hyperv=on'], '--cpus kvm_hyperv is not supported by Nimbus yet [cpus.kvm_hyperv]'],
    [['--kernel', 'k', '--memory', 'size=1G,shared=on'], '--memory shared is not supported by Nimbus yet [memory.shared]'],
    [['--kernel', 'k', '--memory', 'size=0', '--memory-zone', 'id=z,size=1G'], '--memory-zone is not supported by Nimbus yet [memory.zones]'],
    [['--kernel', 'k', '--disk', 'path=/a,direct=on'], '--disk direct=on is not supported by Nimbus yet (O_DIRECT needs block-aligned buffers, which Node.js cannot allocate for bounce copies and zeroing); use direct=off [disks[0].direct]'],
    [['--kernel', 'k', '--net', 'tap=tap0'], '--net is not supported by Nimbus yet [net]'],
    [['--kernel', 'k', '--rtc'], '--rtc is not supported by Nimbus yet [rtc]'],
    [['--kernel', 'k', '--watchdog'], '--watchdog is not supported by Nimbus yet [watchdog]'],
    [['--kernel', 'k', '--debug-console', 'tty'], '--debug-console is not supported by Nimbus yet [debug_console.mode]'],
    [['--kernel', 'k', '--log-format', '{msg}'], '--log-format is not supported by Nimbus yet [logFormat]'],
    [['--kernel', 'k', '--seccomp', 'log'], '--seccomp is not supported by Nimbus yet [seccomp]'],
    [['--restore', 'source_url=file:///snap'], '--restore is not supported by Nimbus yet [restore]'],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), () => {
      assert.throws(() => parseCommandLine(args, VERSION), fails(ConfigError, 'UNSUPPORTED', message));
    });
  }
});

describe('tokenizing like clap', () => {
  it('repeated multi-value options and value runs both accumulate', () => {
    const repeated = runCompatible(['--kernel', 'k', '--disk', 'path=/a', '--disk', 'path=/b']).vm?.disks?.map((disk) => disk.path);
    assert.deepEqual(repeated, ['/a', '/b']);
    const run = runCompatible(['--kernel', 'k', '--disk', 'path=/a', 'path=/b', '--disk', 'path=/c', '-v']).vm?.disks?.map((disk) => disk.path);
    assert.deepEqual(run, ['/a', '/b', '/c']);
  });

  it('an attached value ends the run', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--disk=path=/a', 'path=/b'], VERSION), fails(CliError, 'UNKNOWN_OPTION'));
  });

  it('single-value options and flags cannot repeat', () => {
    assert.throws(
      () => parseCommandLine(['--kernel', 'k', '--cpus', 'boot=1', '--cpus', 'boot=2'], VERSION),
      fails(CliError, 'DUPLICATE_OPTION', '--cpus cannot be used multiple times'),
    );
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--pvpanic', '--pvpanic'], VERSION), fails(CliError, 'DUPLICATE_OPTION', '--pvpanic cannot be used multiple times'));
  });

  it('a missing value is an error, with a hint for values starting with "-"', () => {
    assert.throws(() => parseCommandLine(['--kernel'], VERSION), fails(CliError, 'MISSING_VALUE', 'a value is required for --kernel <kernel> but none was supplied'));
    assert.throws(
      () => parseCommandLine(['--kernel', 'k', '--cmdline', '-quiet'], VERSION),
      fails(CliError, 'MISSING_VALUE', 'a value is required for --cmdline <cmdline> but none was supplied; write --cmdline=<value> for a value that starts with "-"'),
    );
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--disk'], VERSION), fails(CliError, 'MISSING_VALUE'));
  });

  it('--rtc takes an optional value', () => {
    assert.deepEqual(runCompatible(['--kernel', 'k', '--rtc']).vm?.rtc, { iommu: false, pci_segment: 0 });
    assert.deepEqual(runCompatible(['--rtc', 'id=rtc0', '--kernel', 'k']).vm?.rtc, { id: 'rtc0', iommu: false, pci_segment: 0 });
  });

  it('flags take no value', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--pvpanic=on'], VERSION), fails(CliError, 'INVALID_VALUE', '--pvpanic takes no value (got "on")'));
  });

  it('unknown options, stray arguments and arguments after --', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--disks', 'path=/a'], VERSION), fails(CliError, 'UNKNOWN_OPTION', 'unknown option --disks; did you mean --disk? (see nimbus --help)'));
    assert.throws(() => parseCommandLine(['--frobnicate'], VERSION), fails(CliError, 'UNKNOWN_OPTION', 'unknown option --frobnicate (see nimbus --help)'));
    assert.throws(() => parseCommandLine(['-x'], VERSION), fails(CliError, 'UNKNOWN_OPTION'));
    assert.throws(() => parseCommandLine(['vmlinux'], VERSION), fails(CliError, 'UNKNOWN_OPTION'));
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--', 'x'], VERSION), fails(CliError, 'UNKNOWN_OPTION'));
    assert.equal(run(['--kernel', 'k', '--']).vm?.payload.kernel, 'k');
  });

  it('a vm-config option needs a payload', () => {
    assert.throws(
      () => parseCommandLine(['--memory', 'size=1G'], VERSION),
      fails(CliError, 'MISSING_PAYLOAD', '--memory configures a VM and needs a payload: add --kernel <path> or --firmware <path>'),
    );
    assert.throws(() => parseCommandLine(['-V', '--cpus', 'boot=2'], VERSION), fails(CliError, 'MISSING_PAYLOAD'));
  });

  it('--seccomp takes one of its possible values', () => {
    assert.throws(() => parseCommandLine(['--seccomp', 'maybe'], VERSION), fails(CliError, 'INVALID_VALUE', 'invalid value "maybe" for --seccomp; possible values: true, false, log, errno'));
    assert.equal(runCompatible(['--seccomp', 'log']).vmm.seccomp, 'log');
  });
});

describe('sub-option and validation errors reach the caller', () => {
  it('bad size, toggle, list and key name the option', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--memory', 'size=12X'], VERSION), fails(CliError, 'INVALID_VALUE', '--memory: invalid value "12X" for "size": expected a size like 512M or 2G'));
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--memory', 'thp=maybe'], VERSION), fails(CliError, 'INVALID_VALUE', '--memory: invalid value "maybe" for "thp": expected on, off, true or false'));
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--cpus', 'affinity=[0@[2-1]]'], VERSION), fails(CliError, 'INVALID_VALUE'));
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--cpus', 'boot=2,cores=2'], VERSION), fails(CliError, 'UNKNOWN_KEY'));
  });

  it('max < boot', () => {
    assert.throws(
      () => parseCommandLine(['--kernel', 'k', '--cpus', 'boot=4,max=2'], VERSION),
      fails(ConfigError, 'CPUS_MAX_LOWER_THAN_BOOT', '--cpus: max=2 is lower than boot=4; raise max or lower boot [cpus.max_vcpus]'),
    );
  });

  it('firmware and kernel together', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--firmware', 'f'], VERSION), fails(ConfigError, 'CONFLICTING_VALUES'));
  });

  it('hugepage_size without hugepages', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--memory', 'hugepage_size=2M'], VERSION), fails(ConfigError, 'INVALID_HUGEPAGES'));
  });

  it('serial file mode without a path', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--serial', 'file='], VERSION), fails(ConfigError, 'MISSING_VALUE', '--serial: file mode needs a path: file=<path> [serial.file]'));
  });

  it('duplicate device ids are checked before the support check', () => {
    assert.throws(() => parseCommandLine(['--kernel', 'k', '--disk', 'path=/a,id=x', 'path=/b,id=x'], VERSION), fails(ConfigError, 'IDENTIFIER_NOT_UNIQUE'));
  });
});

describe('every option round-trips into the config', () => {
  const vmOptions: [string, string][] = [
    ['--cpus', 'boot=2,max=2'],
    ['--memory', 'size=1G,shared=on'],
    ['--memory-zone', 'id=z0,size=256M,shared=on'],
    ['--rate-limit-group', 'id=g0,bw_size=1000,bw_refill_time=10'],
    ['--disk', 'path=/a,rate_limit_group=g0,id=d0'],
    ['--net', 'tap=tap0,id=n0'],
    ['--rng', 'src=/dev/random'],
    ['--balloon', 'size=64M'],
    ['--fs', 'tag=t,socket=/fs.sock,id=f0'],
    ['--generic-vhost-user', 'device_type=net,socket=/g.sock,queue_sizes=[256,256],id=g1'],
    ['--pmem', 'file=/p,id=p0'],
    ['--serial', 'tty'],
    ['--console', 'off'],
    ['--debug-console', 'off'],
    ['--device', 'path=/sys/bus/pci/devices/0000:00:04.0,id=v0'],
    ['--user-device', 'socket=/u.sock,id=u0'],
    ['--vdpa', 'path=/dev/vhost-vdpa-0,id=vd0'],
    ['--vsock', 'cid=3,socket=/v.sock,id=vs0'],
    ['--numa', 'guest_numa_id=0,cpus=[0-1],memory_zones=[z0]'],
    ['--pci-segment', 'pci_segment=0'],
    ['--platform', 'num_pci_segments=1'],
    ['--tpm', 'socket=/t.sock'],
    ['--landlock-rules', 'path=/tmp,access=rw'],
  ];
  const args = ['--kernel', 'k', '--initramfs', 'i', '--cmdline', 'c', '--watchdog', '--rtc', '--pvpanic', '--landlock', ...vmOptions.flat()];
  const ignoreWarning = (): void => {};

  it('builds each field from its option', () => {
    const command = runCompatible(args);
    const vm = command.vm;
    assert.ok(vm !== undefined);
    assert.deepEqual(vm.payload, { kernel: 'k', initramfs: 'i', cmdline: 'c' });
    assert.deepEqual(vm.cpus, parseCpus('boot=2,max=2'));
    assert.deepEqual(vm.memory, parseMemory('size=1G,shared=on', ['id=z0,size=256M,shared=on']));
    assert.deepEqual(vm.rate_limit_groups, [parseRateLimitGroup('id=g0,bw_size=1000,bw_refill_time=10')]);
    assert.deepEqual(vm.disks, [parseDisk('path=/a,rate_limit_group=g0,id=d0')]);
    assert.deepEqual(vm.net, [parseNet('tap=tap0,id=n0')]);
    assert.deepEqual(vm.rng, parseRng('src=/dev/random'));
    assert.deepEqual(vm.balloon, parseBalloon('size=64M'));
    assert.deepEqual(vm.fs, [parseFs('tag=t,socket=/fs.sock,id=f0')]);
    assert.deepEqual(vm.generic_vhost_user, [parseGenericVhostUser('device_type=net,socket=/g.sock,queue_sizes=[256,256],id=g1', ignoreWarning)]);
    assert.deepEqual(vm.pmem, [parsePmem('file=/p,id=p0')]);
    assert.deepEqual(vm.serial, { mode: 'Tty' });
    assert.deepEqual(vm.console, { mode: 'Off', iommu: false, pci_segment: 0 });
    assert.deepEqual(vm.debug_console, { mode: 'Off' });
    assert.deepEqual(vm.devices, [parseDevice('path=/sys/bus/pci/devices/0000:00:04.0,id=v0')]);
    assert.deepEqual(vm.user_devices, [parseUserDevice('socket=/u.sock,id=u0')]);
    assert.deepEqual(vm.vdpa, [parseVdpa('path=/dev/vhost-vdpa-0,id=vd0')]);
    assert.deepEqual(vm.vsock, parseVsock('cid=3,socket=/v.sock,id=vs0'));
    assert.deepEqual(vm.numa, [parseNuma('guest_numa_id=0,cpus=[0-1],memory_zones=[z0]')]);
    assert.deepEqual(vm.pci_segments, [parsePciSegment('pci_segment=0')]);
    assert.deepEqual(vm.platform, parsePlatform('num_pci_segments=1', ignoreWarning));
    assert.deepEqual(vm.tpm, parseTpm('socket=/t.sock'));
    assert.deepEqual(vm.landlock_rules, [parseLandlockRule('path=/tmp,access=rw')]);
    assert.equal(vm.watchdog, true);
    assert.equal(vm.pvpanic, true);
    assert.equal(vm.landlock_enable, true);
    assert.deepEqual(vm.rtc, { iommu: false, pci_segment: 0 });
    assert.equal(vm.iommu, false);
    assert.equal(command.explicitFields.size, 27, 'every top-level field but iommu was set explicitly');
  });

  it('parseCommandLine rejects the first unsupported one', () => {
    assert.throws(() => parseCommandLine(args, VERSION), fails(ConfigError, 'UNSUPPORTED', '--memory-zone is not supported by Nimbus yet [memory.zones]'));
  });

  it('deprecation warnings are collected', () => {
    const command = runCompatible(['--kernel', 'k', '--platform', 'uuid=1234']);
    assert.deepEqual(command.warnings, ["'uuid' in --platform is deprecated; use 'system_uuid'."]);
  });
});
