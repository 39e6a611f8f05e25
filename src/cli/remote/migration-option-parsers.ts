/**
 * The `send-migration` and `receive-migration` argument syntax of ch-remote (vmm/src/api/mod.rs
 * `VmSendMigrationData::parse` / `VmReceiveMigrationData::parse`): comma-separated `key=value` items turned into the
 * `vm.send-migration` / `vm.receive-migration` request bodies, with upstream's defaults and its checks of the URL
 * and of the option combinations. The TLS directory's certificate files are checked by the VMM, not here.
 */
import type { MigrationMode, ReceiveMigrationData, SendMigrationData } from '../../vmm/actions.ts';
import { omitUndefined } from '../../vmm/config/omit-undefined.ts';
import type { RestoredVfioConfig } from '../../vmm/config/vmm-options.ts';
import { parseInteger, parseSubOptions, type SubOptions } from '../option-parser.ts';
import { parseVfioFds, parseZoneUpdates } from '../vmm-option-parsers.ts';
import { RemoteError } from './remote-error.ts';

export const SEND_MIGRATION_SYNTAX =
  'VM send migration parameters "destination_url=<url>[,local=on|off,preserve_source=on|off,' +
  'downtime_ms=<milliseconds>,timeout_s=<seconds>,timeout_strategy=cancel|ignore,connections=<amount>,' +
  'tls_dir=<path>,memory_mode=precopy|postcopy]"';

export const RECEIVE_MIGRATION_SYNTAX =
  'VM receive migration parameters "receiver_url=<url>[,tls_dir=<path>][,memory_mode=precopy|postcopy]' +
  '[,vfio_fds=<list_of_vfio_ids_with_their_associated_fd>][,iommufd_fd=<fd>][,zone_updates=[<id@host_numa_node>]]"';

export const DEFAULT_MIGRATION_DOWNTIME_MS = 300;
export const DEFAULT_MIGRATION_TIMEOUT_S = 3600;
export const MAX_MIGRATION_CONNECTIONS = 128;

/**
 * The `vm.send-migration` body. `preserve_source` (upstream accepts it, the OpenAPI spec and `SendMigrationData`
 * do not list it yet) is sent only when set, so that a default request matches the spec.
 */
export type SendMigrationRequest = SendMigrationData & { preserve_source?: true };

/**
 * What `receive-migration` parses: the `vm.receive-migration` body plus upstream's `vfio_fds` (VFIO device id @
 * cdev descriptor) and `iommufd_fd`, descriptors of nimbus-remote that `ReceiveMigrationData` does not list.
 */
export type ReceiveMigrationArguments = ReceiveMigrationData & { vfio_fds?: RestoredVfioConfig[]; iommufd_fd?: number };

const MIGRATION_MODES: Readonly<Record<string, MigrationMode>> = { precopy: 'Precopy', postcopy: 'Postcopy' };
const TIMEOUT_STRATEGIES = { cancel: 'Cancel', ignore: 'Ignore' } as const;

function invalid(message: string): RemoteError {
  return new RemoteError('INVALID_ARGUMENT', message);
}

/** Why `address` (after `tcp:`) is not `<host>:<port>` or `[<ipv6>]:<port>`, or undefined when it is. */
export function tcpAddressProblem(address: string): string | undefined {
  let host: string;
  let port: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close === -1) return "missing closing ']' for bracketed IPv6 address";
    if (address[close + 1] !== ':') return 'missing port separator after bracketed host';
    host = address.slice(1, close);
    port = address.slice(close + 2);
  } else {
    const colon = address.lastIndexOf(':');
    if (colon === -1) return 'missing TCP port';
    host = address.slice(0, colon);
    port = address.slice(colon + 1);
  }
  if (host === '') return 'host must not be empty';
  if (port === '') return 'port must not be empty';
  return parseInteger(port, 'u16') === undefined ? `invalid TCP port: ${port}` : undefined;
}

type MigrationTransport = 'tcp' | 'unix';

function transportOf(key: string, url: string): MigrationTransport {
  if (url.startsWith('tcp:')) {
    const problem = tcpAddressProblem(url.slice('tcp:'.length));
    if (problem !== undefined) throw invalid(`${key} "${url}": ${problem}; expected tcp:<host>:<port> or unix:<path>`);
    return 'tcp';
  }
  if (url.startsWith('unix:') && url.length > 'unix:'.length) return 'unix';
  throw invalid(`${key} "${url}" must use tcp:<host>:<port> or unix:<path>`);
}

/** A u64/u32 value that must not be zero when given. */
function nonZero(options: SubOptions, key: string, kind: 'u32' | 'u64', fallback: number): number {
  const value = options.integer(key, kind) ?? fallback;
  if (value === 0) throw invalid(`${key} must be non-zero`);
  return value;
}

function parseMemoryMode(options: SubOptions): MigrationMode {
  return options.choice('memory_mode', MIGRATION_MODES, true) ?? 'Precopy';
}

export function parseSendMigration(input: string): SendMigrationRequest {
  const options = parseSubOptions('send-migration', input, {
    values: [
      'destination_url', 'local', 'preserve_source', 'downtime_ms', 'timeout_s', 'timeout_strategy', 'connections',
      'tls_dir', 'memory_mode',
    ],
  });
  const destinationUrl = options.requiredString('destination_url', '<url>');
  const local = options.toggle('local') ?? false;
  const preserveSource = options.toggle('preserve_source') ?? false;
  const connections = nonZero(options, 'connections', 'u32', 1);
  const tlsDir = options.string('tls_dir');
  const memoryMode = parseMemoryMode(options);
  const data = omitUndefined<SendMigrationRequest>({
    destination_url: destinationUrl,
    local,
    preserve_source: preserveSource ? true : undefined,
    downtime_ms: nonZero(options, 'downtime_ms', 'u64', DEFAULT_MIGRATION_DOWNTIME_MS),
    timeout_s: nonZero(options, 'timeout_s', 'u64', DEFAULT_MIGRATION_TIMEOUT_S),
    timeout_strategy: options.choice('timeout_strategy', TIMEOUT_STRATEGIES, true) ?? 'Cancel',
    connections,
    tls_dir: tlsDir,
    memory_mode: memoryMode,
  });

  const transport = transportOf('destination_url', destinationUrl);
  if (transport === 'unix' && connections > 1) {
    throw invalid('UNIX sockets and connections option cannot be used at the same time.');
  }
  if (transport === 'unix' && tlsDir !== undefined) {
    throw invalid('UNIX sockets and TLS encryption cannot be used at the same time.');
  }
  if (connections > MAX_MIGRATION_CONNECTIONS) throw invalid(`connections must not exceed ${MAX_MIGRATION_CONNECTIONS}.`);
  if (local && transport !== 'unix') throw invalid('local option is only supported with UNIX sockets.');
  if (local && connections > 1) throw invalid('local option and connections option cannot be used at the same time.');
  if (preserveSource && !local) throw invalid('preserve_source option is only supported with the local option.');
  if (memoryMode === 'Postcopy' && local) throw invalid('memory_mode=postcopy and local options are mutually exclusive.');
  if (memoryMode === 'Postcopy' && connections > 1) {
    throw invalid('memory_mode=postcopy currently requires a single connection (connections=1).');
  }
  return data;
}

/**
 * `vfio_fds=[vfio0@5]` and `iommufd_fd=6` name descriptors of nimbus-remote; whether they are open is checked when
 * the request is built. As upstream's parser, the pairing of `vfio_fds` with `iommufd_fd` and with the devices of
 * the incoming VM is left to the VMM, which knows the received configuration.
 */
export function parseReceiveMigration(input: string): ReceiveMigrationArguments {
  const options = parseSubOptions('receive-migration', input, {
    values: ['receiver_url', 'tls_dir', 'memory_mode', 'vfio_fds', 'iommufd_fd', 'zone_updates'],
  });
  const receiverUrl = options.requiredString('receiver_url', '<url>');
  const tlsDir = options.string('tls_dir');
  const zoneUpdates = parseZoneUpdates(options);

  if (transportOf('receiver_url', receiverUrl) === 'unix' && tlsDir !== undefined) {
    throw invalid('UNIX sockets and TLS encryption cannot be used at the same time');
  }
  const zoneIds = new Set(zoneUpdates.map((update) => update.id));
  if (zoneIds.size !== zoneUpdates.length) throw invalid('More than one update was defined for at least one memory zone');
  if (zoneIds.has('')) throw invalid('One or more memory zone updates contained an empty ID');
  return omitUndefined<ReceiveMigrationArguments>({
    receiver_url: receiverUrl,
    tls_dir: tlsDir,
    memory_mode: parseMemoryMode(options),
    vfio_fds: parseVfioFds(options),
    iommufd_fd: options.integer('iommufd_fd', 'i32'),
    zone_updates: zoneUpdates,
  });
}
