/**
 * Parsers for the command-line options of the VMM process: `--api-socket`, `--event-monitor` and `--restore`
 * (cloud-hypervisor/src/main.rs and vmm/src/config.rs `RestoreConfig::parse`).
 */
import { omitUndefined } from '../vmm/config/omit-undefined.ts';
import type { PathOrFd, RestoreConfig, RestoredVfioConfig, VmMemoryZoneUpdateData } from '../vmm/config/vmm-options.ts';
import { CliError } from './cli-error.ts';
import { dequote, parseInteger, parseIntegerList, parseSubOptions, type SubOptions } from './option-parser.ts';

/** `path=<path>`, `fd=<fd>`, or (as upstream) a bare path: anything that does not parse as keys is the path. */
export function parseApiSocket(input: string): PathOrFd {
  let options: SubOptions;
  try {
    options = parseSubOptions('--api-socket', input, { values: ['path', 'fd'] });
  } catch {
    return { path: input };
  }
  const fd = options.integer('fd', 'i32');
  if (fd !== undefined) return { fd };
  return { path: options.string('path') ?? input };
}

export function parseEventMonitor(input: string): PathOrFd {
  const options = parseSubOptions('--event-monitor', input, { values: ['path', 'fd'] });
  const fd = options.integer('fd', 'i32');
  if (fd !== undefined) return { fd };
  const path = options.string('path');
  if (path === undefined) throw new CliError('MISSING_KEY', '--event-monitor: path=<path> or fd=<fd> is required');
  return { path };
}

const MEMORY_RESTORE_MODES = { copy: 'Copy', ondemand: 'OnDemand' } as const;

export function parseRestore(input: string): RestoreConfig {
  const options = parseSubOptions('--restore', input, {
    values: ['source_url', 'prefault', 'memory_restore_mode', 'net_fds', 'vfio_fds', 'iommufd_fd', 'resume', 'zone_updates'],
  });
  const sourceUrl = options.requiredString('source_url', '<source_url>');
  const prefault = options.toggle('prefault') ?? false;
  const mode = options.choice('memory_restore_mode', MEMORY_RESTORE_MODES, true) ?? 'Copy';
  if (prefault && mode === 'OnDemand') {
    throw new CliError('INVALID_VALUE', "--restore: 'prefault' cannot be combined with 'memory_restore_mode=ondemand'");
  }
  return omitUndefined<RestoreConfig>({
    source_url: sourceUrl,
    prefault,
    memory_restore_mode: mode,
    net_fds: options.tupleList('net_fds', 'a list like [net0@[3,4],net1@[5,6]]', ({ key, value }) => {
      const fds = parseIntegerList(value, 'i32');
      return fds === undefined ? undefined : { id: dequote(key), num_fds: fds.length, fds };
    }),
    vfio_fds: parseVfioFds(options),
    iommufd_fd: options.integer('iommufd_fd', 'i32'),
    resume: options.toggle('resume') ?? false,
    zone_updates: parseZoneUpdates(options),
  });
}

/** `vfio_fds=[vfio0@5,vfio1@6]`: VFIO device id @ descriptor (restore and receive-migration). */
export function parseVfioFds(options: SubOptions): RestoredVfioConfig[] | undefined {
  return options.tupleList<RestoredVfioConfig>('vfio_fds', 'a list like [vfio0@5,vfio1@6]', ({ key, value }) => {
    const fd = parseInteger(value, 'i32');
    return fd === undefined ? undefined : { id: dequote(key), fd };
  });
}

/** `zone_updates=[mem0@1,mem1@0]`: memory zone id @ host NUMA node (restore and receive-migration). */
export function parseZoneUpdates(options: SubOptions): VmMemoryZoneUpdateData[] {
  return (
    options.tupleList<VmMemoryZoneUpdateData>('zone_updates', 'a list like [mem0@1,mem1@0] (zone id@host NUMA node)', ({ key, value }) => {
      const node = parseInteger(value, 'u32');
      return node === undefined ? undefined : { id: dequote(key), host_numa_node: node };
    }) ?? []
  );
}
