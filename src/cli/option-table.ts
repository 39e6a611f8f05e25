/**
 * The command-line options of `nimbus`, as Cloud Hypervisor defines them (cloud-hypervisor/src/main.rs
 * `get_cli_options_sorted`): name, how many values each takes, its clap group, its default value and its help/syntax
 * text. The argument tokenizer and the help text are both driven by this table, in this (upstream help) order.
 */
import {
  DEFAULT_DEBUG_CONSOLE_IOBASE,
  DEFAULT_MAX_PHYS_BITS,
  DEFAULT_MEMORY_SIZE,
  DEFAULT_RNG_SOURCE,
  DEFAULT_VCPUS,
  MIB,
} from '../vmm/config/defaults.ts';
import { SECCOMP_MODES } from '../vmm/config/vmm-options.ts';

/**
 * `flag`: no value, at most once; `count`: no value, repeatable (`-vvv`); `one`: exactly one value, at most once;
 * `many`: one or more values per occurrence, repeatable (`--disk a b --disk c`); `optional`: zero or one value.
 */
export type Arity = 'flag' | 'count' | 'one' | 'many' | 'optional';

/** clap argument groups: any `vm-config` option requires a `vm-payload` option. */
export type OptionGroup = 'vm-config' | 'vm-payload' | 'vmm-config' | 'logging';

export interface CliOptionSpec {
  /** Long name without dashes (also the value name shown in help), or the short letter for `-v`. */
  readonly id: string;
  readonly long?: string;
  readonly short?: string;
  readonly arity: Arity;
  readonly group?: OptionGroup;
  readonly help: string;
  readonly defaultValue?: string;
  readonly possibleValues?: readonly string[];
}

const PCI_COMMON_SYNTAX = 'id=<device_id>,pci_segment=<segment_id>,pci_device_id=<pci_slot>';
const RATE_LIMIT_SYNTAX =
  'bw_size=<bytes>,bw_one_time_burst=<bytes>,bw_refill_time=<ms>,ops_size=<io_ops>,ops_one_time_burst=<io_ops>,ops_refill_time=<ms>';

/** The built-in log line format of src/util/logger.ts, shown as the `--log-format` default. */
const NIMBUS_LOG_FORMAT = 'nimbus: {boottime}s: <{thread}> {level} -- {msg}';

export const CLI_OPTIONS: readonly CliOptionSpec[] = [
  { id: 'api-socket', long: 'api-socket', arity: 'one', group: 'vmm-config', help: 'HTTP API socket (UNIX domain socket): path=<path> or fd=<fd>.' },
  {
    id: 'balloon', long: 'balloon', arity: 'one', group: 'vm-config',
    help: `Balloon parameters "size=<balloon_size>,deflate_on_oom=on|off,free_page_reporting=on|off,iommu=on|off,${PCI_COMMON_SYNTAX}"`,
  },
  { id: 'cmdline', long: 'cmdline', arity: 'one', group: 'vm-config', help: 'Kernel command line' },
  {
    id: 'console', long: 'console', arity: 'one', group: 'vm-config', defaultValue: 'tty',
    help: `Control (virtio) console: "off|null|pty|tty|file=<path>,iommu=on|off,${PCI_COMMON_SYNTAX}"`,
  },
  {
    id: 'cpus', long: 'cpus', arity: 'one', group: 'vm-config',
    defaultValue: `boot=${DEFAULT_VCPUS},max_phys_bits=${DEFAULT_MAX_PHYS_BITS}`,
    help:
      'boot=<boot_vcpus>,max=<max_vcpus>,topology=<threads_per_core>:<cores_per_die>:<dies_per_package>:<packages>,' +
      'kvm_hyperv=on|off,max_phys_bits=<maximum_number_of_physical_bits>,affinity=<list_of_vcpus_with_their_associated_cpuset>,' +
      'features=<list_of_features_to_enable>,nested=on|off,core_scheduling=vm|vcpu|off',
  },
  {
    id: 'debug-console', long: 'debug-console', arity: 'one', group: 'vm-config',
    defaultValue: `off,iobase=0x${DEFAULT_DEBUG_CONSOLE_IOBASE.toString(16)}`,
    help: 'Debug console: off|pty|tty|file=<path>,iobase=<port in hex>',
  },
  {
    id: 'device', long: 'device', arity: 'many', group: 'vm-config',
    help: `Direct device assignment parameters "path=<device_path>,fd=<vfio_cdev_fd>,iommu=on|off,${PCI_COMMON_SYNTAX},x_nv_gpudirect_clique=<clique_id>,x_exclude_mmap_bars=[<bar>...]"`,
  },
  {
    id: 'disk', long: 'disk', arity: 'many', group: 'vm-config',
    help:
      'Disk parameters "path=<disk_image_path>,readonly=on|off,direct=on|off,iommu=on|off,num_queues=<number_of_queues>,' +
      `queue_size=<size_of_each_queue>,vhost_user=on|off,socket=<vhost_user_socket_path>,${RATE_LIMIT_SYNTAX},${PCI_COMMON_SYNTAX},` +
      'rate_limit_group=<group_id>,queue_affinity=<list_of_queue_indices_with_their_associated_cpuset>,serial=<serial_number>,' +
      'backing_files=on|off,sparse=on|off,image_type=<raw,qcow2,vhd,vhdx>,lock_granularity=byte-range|full"',
  },
  { id: 'event-monitor', long: 'event-monitor', arity: 'one', group: 'vmm-config', help: 'Path to report events on: path=<path> or fd=<fd>' },
  { id: 'firmware', long: 'firmware', arity: 'one', group: 'vm-payload', help: 'Path to firmware that is loaded in an architectural specific way' },
  {
    id: 'fs', long: 'fs', arity: 'many', group: 'vm-config',
    help: `virtio-fs parameters "tag=<tag_name>,socket=<socket_path>,num_queues=<number_of_queues>,queue_size=<size_of_each_queue>,${PCI_COMMON_SYNTAX}"`,
  },
  {
    id: 'generic-vhost-user', long: 'generic-vhost-user', arity: 'many', group: 'vm-config',
    help:
      'generic vhost-user parameters "device_type=<ID number for virtio device type (FS, block, net, etc) or symbolic name>,' +
      `socket=<socket_path>,queue_sizes=<list of queue sizes>,${PCI_COMMON_SYNTAX}"`,
  },
  { id: 'initramfs', long: 'initramfs', arity: 'one', group: 'vm-config', help: 'Path to initramfs image' },
  {
    id: 'kernel', long: 'kernel', arity: 'one', group: 'vm-payload',
    help: 'Path to kernel to load. This may be a kernel or firmware that supports a PVH entry point (e.g. vmlinux) or architecture equivalent',
  },
  { id: 'landlock', long: 'landlock', arity: 'flag', group: 'vm-config', help: 'enable/disable Landlock.' },
  {
    id: 'landlock-rules', long: 'landlock-rules', arity: 'many', group: 'vm-config',
    help: 'Landlock parameters "path=<path/to/{file/dir}>,access=[rw]"',
  },
  { id: 'log-file', long: 'log-file', arity: 'one', group: 'logging', help: 'Log file. Standard error is used if not specified' },
  {
    id: 'log-format', long: 'log-format', arity: 'one', group: 'logging', defaultValue: NIMBUS_LOG_FORMAT,
    help: 'Log format. Common tokens: {boottime}, {wallclock}, {glog}, {localglog}, {thread}, {level}, {location}, {msg}.',
  },
  {
    id: 'memory', long: 'memory', arity: 'one', group: 'vm-config', defaultValue: `size=${DEFAULT_MEMORY_SIZE / MIB}M`,
    help:
      'Memory parameters "size=<guest_memory_size>,mergeable=on|off,shared=on|off,hugepages=on|off,hugepage_size=<hugepage_size>,' +
      'hotplug_method=acpi|virtio-mem,hotplug_size=<hotpluggable_memory_size>,hotplugged_size=<hotplugged_memory_size>,' +
      'prefault=on|off,reserve=on|off,thp=on|off"',
  },
  {
    id: 'memory-zone', long: 'memory-zone', arity: 'many', group: 'vm-config',
    help:
      'User defined memory zone parameters "size=<guest_memory_region_size>,file=<backing_file>,shared=on|off,hugepages=on|off,' +
      'hugepage_size=<hugepage_size>,host_numa_node=<node_id>,id=<zone_identifier>,hotplug_size=<hotpluggable_memory_size>,' +
      'hotplugged_size=<hotplugged_memory_size>,prefault=on|off,reserve=on|off"',
  },
  {
    id: 'net', long: 'net', arity: 'many', group: 'vm-config',
    help:
      'Network parameters "tap=<if_name>,ip=<ip_addr>,mask=<net_mask>,mac=<mac_addr>,fd=<[fd1,fd2,...]>,iommu=on|off,' +
      'num_queues=<number_of_queues>,queue_size=<size_of_each_queue>,id=<device_id>,vhost_user=<vhost_user_enable>,' +
      `socket=<vhost_user_socket_path>,vhost_mode=client|server,${RATE_LIMIT_SYNTAX},pci_segment=<segment_id>,pci_device_id=<pci_slot>,` +
      'offload_tso=on|off,offload_ufo=on|off,offload_csum=on|off"',
  },
  { id: 'no-shutdown', long: 'no-shutdown', arity: 'flag', group: 'vmm-config', help: 'Do not exit the VMM when the guest shuts down' },
  {
    id: 'numa', long: 'numa', arity: 'many', group: 'vm-config',
    help:
      'Settings related to a given NUMA node "guest_numa_id=<node_id>,cpus=<cpus_id>,distances=<list_of_distances_to_destination_nodes>,' +
      'device_id=<device_id>,memory_zones=<list_of_memory_zones>,pci_segments=<list_of_pci_segments>"',
  },
  {
    id: 'pci-segment', long: 'pci-segment', arity: 'many', group: 'vm-config',
    help: 'PCI Segment parameters "pci_segment=<segment_id>,mmio32_aperture_weight=<scale>,mmio64_aperture_weight=<scale>"',
  },
  {
    id: 'platform', long: 'platform', arity: 'one', group: 'vm-config',
    help:
      'Platform configuration parameters "num_pci_segments=<num_pci_segments>,iommu_segments=<list_of_segments>,' +
      'iommu_address_width=<bits>,iommufd=on|off,iommufd_fd=<fd>,vfio_p2p_dma=on|off,system_manufacturer=<dmi_system_manufacturer>,' +
      'system_product_name=<dmi_system_product_name>,system_version=<dmi_system_version>,system_serial_number=<dmi_system_serial_number>,' +
      'system_uuid=<dmi_system_uuid>,system_sku_number=<dmi_system_sku_number>,system_family=<dmi_system_family>,' +
      'oem_strings=<list_of_strings>,chassis_asset_tag=<dmi_chassis_asset_tag>"',
  },
  {
    id: 'pmem', long: 'pmem', arity: 'many', group: 'vm-config',
    help: `Persistent memory parameters "file=<backing_file_path>,size=<persistent_memory_size>,iommu=on|off,discard_writes=on|off,${PCI_COMMON_SYNTAX}"`,
  },
  { id: 'pvpanic', long: 'pvpanic', arity: 'flag', group: 'vm-config', help: 'Enable pvpanic device' },
  {
    id: 'rate-limit-group', long: 'rate-limit-group', arity: 'many', group: 'vm-config',
    help: `Rate Limit Group parameters "${RATE_LIMIT_SYNTAX},id=<device_id>"`,
  },
  {
    id: 'restore', long: 'restore', arity: 'one', group: 'vmm-config',
    help:
      'Restore from a VM snapshot.\nRestore parameters "source_url=<source_url>,prefault=on|off,memory_restore_mode=copy|ondemand,' +
      'net_fds=<list_of_net_ids_with_their_associated_fds>,vfio_fds=<list_of_vfio_ids_with_their_associated_fd>,iommufd_fd=<fd>,' +
      'resume=true|false,zone_updates=<list_of_updates>"',
  },
  {
    id: 'rng', long: 'rng', arity: 'one', group: 'vm-config', defaultValue: `src=${DEFAULT_RNG_SOURCE}`,
    help: 'Random number generator parameters "src=<entropy_source_path>,iommu=on|off,pci_segment=<segment_id>,pci_device_id=<pci_slot>"',
  },
  {
    id: 'rtc', long: 'rtc', arity: 'optional', group: 'vm-config',
    help: `Virtio RTC parameters "iommu=on|off,${PCI_COMMON_SYNTAX}". Passing --rtc with no arguments enables the device with default settings.`,
  },
  {
    id: 'seccomp', long: 'seccomp', arity: 'one', defaultValue: 'true', possibleValues: SECCOMP_MODES,
    help: 'Seccomp filter action for the VMM threads: true (trap), false (allow), log or errno',
  },
  {
    id: 'serial', long: 'serial', arity: 'one', group: 'vm-config', defaultValue: 'null',
    help: 'Control serial port: "off|null|pty|tty|file=<path>|socket=<path>"',
  },
  { id: 'tpm', long: 'tpm', arity: 'one', group: 'vm-config', help: 'TPM device "(UNIX Domain Socket from swtpm) socket=</path/to/a/socket>"' },
  {
    id: 'user-device', long: 'user-device', arity: 'many', group: 'vm-config',
    help: `Userspace device socket=<socket_path>,${PCI_COMMON_SYNTAX}"`,
  },
  { id: 'v', short: 'v', arity: 'count', group: 'logging', help: 'Sets the level of debugging output' },
  {
    id: 'vdpa', long: 'vdpa', arity: 'many', group: 'vm-config',
    help: `vDPA device "path=<device_path>,num_queues=<number_of_queues>,iommu=on|off,${PCI_COMMON_SYNTAX}"`,
  },
  { id: 'version', long: 'version', short: 'V', arity: 'flag', help: 'Print version' },
  {
    id: 'vsock', long: 'vsock', arity: 'one', group: 'vm-config',
    help: `Virtio VSOCK parameters "cid=<context_id>,socket=<socket_path>,iommu=on|off,${PCI_COMMON_SYNTAX}"`,
  },
  { id: 'watchdog', long: 'watchdog', arity: 'flag', group: 'vm-config', help: 'Enable virtio-watchdog' },
  { id: 'help', long: 'help', short: 'h', arity: 'flag', help: 'Print help' },
];
