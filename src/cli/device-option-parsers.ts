/**
 * Parsers for the device options of the command line (`--disk`, `--net`, `--fs`, `--pmem`, `--generic-vhost-user`,
 * `--device`, `--user-device`, `--vdpa`, `--vsock`, `--rate-limit-group`) into the `VmConfig` device shapes, with
 * Cloud Hypervisor's keys and per-key defaults (vmm/src/config.rs `*Config::parse`). Cross-field rules are left to
 * `validateVmConfig`. Also used for `vm.add-*` style strings.
 */
import {
  DEFAULT_DISK_NUM_QUEUES,
  DEFAULT_DISK_QUEUE_SIZE,
  DEFAULT_FS_NUM_QUEUES,
  DEFAULT_FS_QUEUE_SIZE,
  DEFAULT_NET_NUM_QUEUES,
  DEFAULT_NET_QUEUE_SIZE,
  DEFAULT_VDPA_NUM_QUEUES,
} from '../vmm/config/defaults.ts';
import { type AllFields, omitUndefined } from '../vmm/config/omit-undefined.ts';
import type {
  DeviceConfig,
  DiskConfig,
  FsConfig,
  GenericVhostUserConfig,
  NetConfig,
  PciDeviceCommonConfig,
  PmemConfig,
  RateLimiterConfig,
  RateLimitGroupConfig,
  TokenBucket,
  UserDeviceConfig,
  VdpaConfig,
  VsockConfig,
} from '../vmm/config/vm-config.ts';
import { CliError } from './cli-error.ts';
import {
  dequote,
  EXPECTED_INDEXED_LISTS,
  parseIndexedIntegerList,
  parseInteger,
  parseSubOptions,
  type SubOptions,
} from './option-parser.ts';

/** Keys of `PciDeviceCommonConfig`; most virtio devices also take `iommu`. */
export const PCI_COMMON_KEYS = ['id', 'pci_segment', 'pci_device_id'] as const;
export const PCI_COMMON_IOMMU_KEYS = [...PCI_COMMON_KEYS, 'iommu'] as const;

/** The common PCI fields, to be spread into a device passed to `omitUndefined`. */
export function parsePciCommon(options: SubOptions): AllFields<PciDeviceCommonConfig> {
  return {
    id: options.string('id'),
    iommu: options.toggle('iommu') ?? false,
    pci_segment: options.integer('pci_segment', 'u16') ?? 0,
    pci_device_id: options.integer('pci_device_id', 'u8'),
  };
}

const RATE_LIMIT_KEYS = [
  'bw_size', 'bw_one_time_burst', 'bw_refill_time', 'ops_size', 'ops_one_time_burst', 'ops_refill_time',
] as const;

/** A token bucket exists only when both its size and refill time are non-zero (upstream behaviour). */
function parseTokenBucket(options: SubOptions, prefix: 'bw' | 'ops'): TokenBucket | undefined {
  const size = options.integer(`${prefix}_size`, 'u64') ?? 0;
  const oneTimeBurst = options.integer(`${prefix}_one_time_burst`, 'u64') ?? 0;
  const refillTime = options.integer(`${prefix}_refill_time`, 'u64') ?? 0;
  return size !== 0 && refillTime !== 0 ? { size, one_time_burst: oneTimeBurst, refill_time: refillTime } : undefined;
}

function parseRateLimiter(options: SubOptions): RateLimiterConfig {
  return omitUndefined<RateLimiterConfig>({
    bandwidth: parseTokenBucket(options, 'bw'),
    ops: parseTokenBucket(options, 'ops'),
  });
}

function parseOptionalRateLimiter(options: SubOptions): RateLimiterConfig | undefined {
  const limiter = parseRateLimiter(options);
  return limiter.bandwidth === undefined && limiter.ops === undefined ? undefined : limiter;
}

export function parseRateLimitGroup(input: string): RateLimitGroupConfig {
  const options = parseSubOptions('--rate-limit-group', input, { values: [...RATE_LIMIT_KEYS, 'id'] });
  return { id: options.string('id') ?? '', rate_limiter_config: parseRateLimiter(options) };
}

const IMAGE_TYPES = { raw: 'Raw', qcow2: 'Qcow2', vhd: 'FixedVhd', vhdx: 'Vhdx', vmdk: 'FlatVmdk' } as const;
const LOCK_GRANULARITIES = { 'byte-range': 'ByteRange', full: 'Full' } as const;

export function parseDisk(input: string): DiskConfig {
  const options = parseSubOptions('--disk', input, {
    values: [
      'path', 'readonly', 'direct', 'queue_size', 'num_queues', 'vhost_user', 'socket', ...RATE_LIMIT_KEYS,
      '_disable_io_uring', '_disable_aio', 'serial', 'rate_limit_group', 'queue_affinity', 'backing_files', 'sparse',
      'image_type', 'lock_granularity', ...PCI_COMMON_IOMMU_KEYS,
    ],
  });
  const socket = options.string('socket');
  return omitUndefined<DiskConfig>({
    ...parsePciCommon(options),
    path: options.string('path'),
    readonly: options.toggle('readonly') ?? false,
    direct: options.toggle('direct') ?? false,
    num_queues: options.integer('num_queues', 'u64') ?? DEFAULT_DISK_NUM_QUEUES,
    queue_size: options.integer('queue_size', 'u16') ?? DEFAULT_DISK_QUEUE_SIZE,
    vhost_user: options.toggle('vhost_user') ?? false,
    vhost_socket: socket,
    rate_limit_group: options.string('rate_limit_group'),
    rate_limiter_config: parseOptionalRateLimiter(options),
    disable_io_uring: options.toggle('_disable_io_uring') ?? false,
    disable_aio: options.toggle('_disable_aio') ?? false,
    serial: options.string('serial'),
    queue_affinity: options.tupleList('queue_affinity', EXPECTED_INDEXED_LISTS, (pair) => {
      const item = parseIndexedIntegerList(pair, 'u16', 'u64');
      return item && { queue_index: item.index, host_cpus: item.values };
    }),
    backing_files: options.toggle('backing_files') ?? false,
    sparse: options.toggle('sparse') ?? true,
    // Upstream ignores image_type for vhost-user disks (the backend owns the image).
    image_type: socket === undefined ? (options.choice('image_type', IMAGE_TYPES, true) ?? 'Unknown') : 'Unknown',
    lock_granularity: options.choice('lock_granularity', LOCK_GRANULARITIES, false) ?? 'ByteRange',
  });
}

function isIpv4Address(text: string): boolean {
  const octets = text.split('.');
  return octets.length === 4 && octets.every((octet) => /^(0|[1-9]\d{0,2})$/.test(octet) && Number(octet) <= 255);
}

function isIpv6Address(text: string): boolean {
  let groupsText = text;
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    if (lastColon === -1 || !isIpv4Address(text.slice(lastColon + 1))) return false;
    groupsText = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = groupsText.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => (half === '' ? [] : half.split(':')));
  if (!groups.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group))) return false;
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}

function parseIpAddress(text: string): string | undefined {
  return isIpv4Address(text) || isIpv6Address(text) ? text : undefined;
}

/** Six colon-separated pairs of hex digits, returned in lower case as upstream prints them. */
function parseMacAddress(text: string): string | undefined {
  return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text) ? text.toLowerCase() : undefined;
}

const VHOST_MODES = { client: 'Client', server: 'Server' } as const;
const EXPECTED_IP = 'an IPv4 or IPv6 address';
const EXPECTED_MAC = 'a MAC address like 12:34:56:78:9a:bc';

export function parseNet(input: string): NetConfig {
  const options = parseSubOptions('--net', input, {
    values: [
      'tap', 'ip', 'mask', 'mac', 'host_mac', 'offload_tso', 'offload_ufo', 'offload_csum', 'mtu', 'queue_size',
      'num_queues', 'vhost_user', 'socket', 'vhost_mode', 'fd', ...RATE_LIMIT_KEYS, ...PCI_COMMON_IOMMU_KEYS,
    ],
  });
  return omitUndefined<NetConfig>({
    ...parsePciCommon(options),
    tap: options.string('tap'),
    ip: options.convert('ip', (value) => parseIpAddress(dequote(value)), EXPECTED_IP),
    mask: options.convert('mask', (value) => parseIpAddress(dequote(value)), EXPECTED_IP),
    mac: options.convert('mac', (value) => parseMacAddress(dequote(value)), EXPECTED_MAC),
    host_mac: options.convert('host_mac', (value) => parseMacAddress(dequote(value)), EXPECTED_MAC),
    mtu: options.integer('mtu', 'u16'),
    num_queues: options.integer('num_queues', 'u64') ?? DEFAULT_NET_NUM_QUEUES,
    queue_size: options.integer('queue_size', 'u16') ?? DEFAULT_NET_QUEUE_SIZE,
    vhost_user: options.toggle('vhost_user') ?? false,
    vhost_socket: options.string('socket'),
    vhost_mode: options.choice('vhost_mode', VHOST_MODES, true) ?? 'Client',
    fds: options.integerList('fd', 'i32'),
    rate_limiter_config: parseOptionalRateLimiter(options),
    offload_tso: options.toggle('offload_tso') ?? true,
    offload_ufo: options.toggle('offload_ufo') ?? true,
    offload_csum: options.toggle('offload_csum') ?? true,
  });
}

export function parseFs(input: string): FsConfig {
  const options = parseSubOptions('--fs', input, { values: ['tag', 'queue_size', 'num_queues', 'socket', ...PCI_COMMON_KEYS] });
  return omitUndefined<FsConfig>({
    ...parsePciCommon(options),
    tag: options.requiredString('tag', '<tag_name>'),
    socket: options.requiredString('socket', '<socket_path>'),
    num_queues: options.integer('num_queues', 'u64') ?? DEFAULT_FS_NUM_QUEUES,
    queue_size: options.integer('queue_size', 'u16') ?? DEFAULT_FS_QUEUE_SIZE,
  });
}

export function parsePmem(input: string): PmemConfig {
  const options = parseSubOptions('--pmem', input, { values: ['size', 'file', 'discard_writes', ...PCI_COMMON_IOMMU_KEYS] });
  return omitUndefined<PmemConfig>({
    ...parsePciCommon(options),
    file: options.requiredString('file', '<backing_file_path>'),
    size: options.byteSize('size'),
    discard_writes: options.toggle('discard_writes') ?? false,
  });
}

/** Virtio device type names accepted by `--generic-vhost-user device_type=` (Linux virtio_ids.h numbering). */
const VIRTIO_DEVICE_TYPES: Readonly<Record<string, number>> = {
  net: 1, block: 2, console: 3, rng: 4, balloon: 5, iomem: 6, rpmsg: 7, scsi: 8, '9p': 9, mac80211_wlan: 10,
  rproc_serial: 11, caif: 12, memory_balloon: 13, gpu: 16, clock: 17, input: 18, vsock: 19, crypto: 20,
  signal_dist: 21, pstore: 22, iommu: 23, mem: 24, sound: 25, fs: 26, pmem: 27, rpmb: 28, mac80211_hwsim: 29,
  video_encoder: 30, video_decoder: 31, scmi: 32, nitro_sec_mod: 33, i2c: 34, watchdog: 35, can: 36, dmabuf: 37,
  param_serv: 38, audio_policy: 39, bt: 40, gpio: 41, rdma: 42, camera: 43, ism: 44, spi: 45, tee: 46,
  cpu_balloon: 47, media: 48, usb: 49,
};

/** A symbolic name or a decimal id without leading zeros. */
function parseVirtioDeviceType(text: string): number | undefined {
  if (Object.hasOwn(VIRTIO_DEVICE_TYPES, text)) return VIRTIO_DEVICE_TYPES[text];
  return /^[1-9]/.test(text) ? parseInteger(text, 'u32') : undefined;
}

export function parseGenericVhostUser(input: string, warn: (message: string) => void): GenericVhostUserConfig {
  const options = parseSubOptions('--generic-vhost-user', input, {
    values: ['device_type', 'virtio_id', 'queue_sizes', 'socket', ...PCI_COMMON_KEYS],
  });
  const socket = options.requiredString('socket', '<socket_path>');
  const queueSizes = options.integerList('queue_sizes', 'u16');
  if (queueSizes === undefined) {
    throw new CliError('MISSING_KEY', '--generic-vhost-user: queue_sizes=<list of queue sizes> is required');
  }
  if (options.raw('virtio_id') !== undefined) warn("'virtio_id' in --generic-vhost-user is deprecated; use 'device_type'.");
  const key = options.raw('device_type') !== undefined ? 'device_type' : 'virtio_id';
  const expected = 'a virtio device type name (net, block, fs, ...) or a decimal id without leading zeros';
  const deviceType = options.convert(key, (value) => parseVirtioDeviceType(dequote(value)), expected);
  if (deviceType === undefined) {
    throw new CliError('MISSING_KEY', '--generic-vhost-user: device_type=<virtio device type> is required');
  }
  return omitUndefined<GenericVhostUserConfig>({
    ...parsePciCommon(options),
    socket,
    queue_sizes: queueSizes,
    device_type: deviceType,
  });
}

export function parseDevice(input: string): DeviceConfig {
  const options = parseSubOptions('--device', input, {
    values: ['path', 'fd', ...PCI_COMMON_IOMMU_KEYS, 'x_nv_gpudirect_clique', 'x_exclude_mmap_bars'],
  });
  return omitUndefined<DeviceConfig>({
    ...parsePciCommon(options),
    path: options.string('path'),
    fd: options.integer('fd', 'i32'),
    x_nv_gpudirect_clique: options.integer('x_nv_gpudirect_clique', 'u8'),
    x_exclude_mmap_bars: options.integerList('x_exclude_mmap_bars', 'u64') ?? [],
  });
}

export function parseUserDevice(input: string): UserDeviceConfig {
  const options = parseSubOptions('--user-device', input, { values: ['socket', ...PCI_COMMON_KEYS] });
  return omitUndefined<UserDeviceConfig>({
    ...parsePciCommon(options),
    socket: options.requiredString('socket', '<socket_path>'),
  });
}

export function parseVdpa(input: string): VdpaConfig {
  const options = parseSubOptions('--vdpa', input, { values: ['path', 'num_queues', ...PCI_COMMON_IOMMU_KEYS] });
  return omitUndefined<VdpaConfig>({
    ...parsePciCommon(options),
    path: options.requiredString('path', '<device_path>'),
    num_queues: options.integer('num_queues', 'u64') ?? DEFAULT_VDPA_NUM_QUEUES,
  });
}

export function parseVsock(input: string): VsockConfig {
  const options = parseSubOptions('--vsock', input, { values: ['socket', 'cid', ...PCI_COMMON_IOMMU_KEYS] });
  const socket = options.requiredString('socket', '<socket_path>');
  const cid = options.integer('cid', 'u32');
  if (cid === undefined) throw new CliError('MISSING_KEY', '--vsock: cid=<context_id> is required');
  return omitUndefined<VsockConfig>({ ...parsePciCommon(options), cid, socket });
}
