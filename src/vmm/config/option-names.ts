/**
 * Which Cloud Hypervisor command-line option fills which `VmConfig` field, declared once: error messages name the
 * option for a field path, and the CLI finds the field an option sets.
 */
import type { VmConfigField } from './vm-config.ts';

/** Field path (top-level field, or a sub-field filled by its own option) -> option. */
const OPTION_FOR_FIELD: Readonly<Record<string, string>> = {
  cpus: '--cpus',
  memory: '--memory',
  'memory.zones': '--memory-zone',
  payload: '--kernel/--firmware',
  'payload.kernel': '--kernel',
  'payload.firmware': '--firmware',
  'payload.cmdline': '--cmdline',
  'payload.initramfs': '--initramfs',
  'payload.igvm': '--igvm',
  'payload.host_data': '--host-data',
  rate_limit_groups: '--rate-limit-group',
  disks: '--disk',
  net: '--net',
  rng: '--rng',
  balloon: '--balloon',
  fs: '--fs',
  generic_vhost_user: '--generic-vhost-user',
  pmem: '--pmem',
  serial: '--serial',
  console: '--console',
  debug_console: '--debug-console',
  devices: '--device',
  user_devices: '--user-device',
  vdpa: '--vdpa',
  vsock: '--vsock',
  numa: '--numa',
  iommu: 'iommu=on',
  watchdog: '--watchdog',
  rtc: '--rtc',
  pvpanic: '--pvpanic',
  pci_segments: '--pci-segment',
  platform: '--platform',
  tpm: '--tpm',
  landlock_enable: '--landlock',
  landlock_rules: '--landlock-rules',
};

/**
 * The option for a field path: `disks[2].id` -> `--disk`, `memory.zones[0].size` -> `--memory-zone`,
 * `cpus.boot_vcpus` -> `--cpus`; a path no option fills is returned as is.
 */
export function optionForField(field: string): string {
  const path = field.replace(/\[\d+\]/g, '');
  for (let end = path.length; end > 0; end = path.lastIndexOf('.', end - 1)) {
    const option = OPTION_FOR_FIELD[path.slice(0, end)];
    if (option !== undefined) return option;
  }
  return field;
}

/** The top-level field an option (like `--memory-zone` or `--cmdline`) sets, if it sets one. */
export function fieldForOption(option: string): VmConfigField | undefined {
  const entry = Object.entries(OPTION_FOR_FIELD).find(([, name]) => name === option);
  return entry === undefined ? undefined : (entry[0].split('.')[0] as VmConfigField);
}
