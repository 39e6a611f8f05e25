/**
 * The commands of nimbus-remote, mirroring Cloud Hypervisor's ch-remote (cloud-hypervisor/src/bin/ch-remote.rs):
 * each one's name, help, arguments, and how its arguments become an API request (method, endpoint, JSON body).
 * Device arguments use the `nimbus` command line's option parsers, so `add-disk path=a.img` sends what
 * `--disk path=a.img` configures. File descriptor arguments (`add-net fd=[..]`, `add-device fd=`, `restore net_fds=
 * vfio_fds= iommufd_fd=`, `receive-migration vfio_fds= iommufd_fd=`) name descriptors of nimbus-remote itself: as
 * ch-remote does, they are taken out of the JSON body and passed with the request (SCM_RIGHTS), in the order the VMM
 * shares them out; each must be open.
 */
import { MAX_FDS_PER_REQUEST } from '../../api/api-connection.ts';
import type { VmResize } from '../../vmm/actions.ts';
import { omitUndefined } from '../../vmm/config/omit-undefined.ts';
import type { RestoreConfig, RestoredVfioConfig } from '../../vmm/config/vmm-options.ts';
import { CliError } from '../cli-error.ts';
import {
  parseDevice,
  parseDisk,
  parseFs,
  parseGenericVhostUser,
  parseNet,
  parsePmem,
  parseUserDevice,
  parseVdpa,
  parseVsock,
} from '../device-option-parsers.ts';
import { EXPECTED_SIZE, expectedInteger, parseByteSize, parseInteger } from '../option-parser.ts';
import { CLI_OPTIONS } from '../option-table.ts';
import { parseRestore } from '../vmm-option-parsers.ts';
import type { ApiRequest, HttpMethod } from './http-message.ts';
import {
  parseReceiveMigration,
  parseSendMigration,
  RECEIVE_MIGRATION_SYNTAX,
  type ReceiveMigrationArguments,
  SEND_MIGRATION_SYNTAX,
} from './migration-option-parsers.ts';
import { RemoteError, usageError } from './remote-error.ts';

/** What a command may need from its surroundings while building its request. */
export interface CommandContext {
  /** The contents of the file at `path`, or of standard input for `-`; throws when it cannot be read. */
  readInput(path: string): string;
  /** Reports a deprecation notice about an argument. */
  warn(message: string): void;
  /** Whether `fd` (not negative) is an open file descriptor of this process. */
  isOpenDescriptor(fd: number): boolean;
}

/** The arguments of one command as given on the command line, checked against the command's spec on access. */
export class CommandArguments {
  readonly #command: RemoteCommand;
  readonly #positional: string | undefined;
  readonly #options: ReadonlyMap<string, string>;

  constructor(command: RemoteCommand, positional: string | undefined, options: ReadonlyMap<string, string>) {
    this.#command = command;
    this.#positional = positional;
    this.#options = options;
  }

  /** The positional argument, or its default value; MISSING_ARGUMENT when it is required and absent. */
  positional(): string {
    const spec = this.#command.positional;
    const value = this.#positional ?? spec?.defaultValue;
    if (value === undefined) throw this.#missing(`<${spec?.name ?? 'argument'}>`);
    return value;
  }

  /** The value of `--name`, or undefined when it was not given. */
  option(name: string): string | undefined {
    return this.#options.get(name);
  }

  /** The value of `--name`; MISSING_ARGUMENT when it was not given. */
  requiredOption(name: string): string {
    const value = this.#options.get(name);
    if (value === undefined) throw this.#missing(`--${name} <${name}>`);
    return value;
  }

  #missing(argument: string): RemoteError {
    const message = `the following required arguments were not provided:\n  ${argument}`;
    return usageError('MISSING_ARGUMENT', message, this.#command.name);
  }
}

/** The command's one positional argument; without a default value it is required. */
export interface PositionalSpec {
  readonly name: string;
  readonly help: string;
  readonly defaultValue?: string;
}

/** A `--name <value>` option of a command. */
export interface CommandOptionSpec {
  readonly name: string;
  readonly help: string;
  readonly required: boolean;
}

export interface RemoteCommand {
  readonly name: string;
  readonly about: string;
  readonly positional?: PositionalSpec;
  readonly options?: readonly CommandOptionSpec[];
  request(args: CommandArguments, context: CommandContext): ApiRequest;
}

/** The syntax line of a `nimbus` option (the last line of its help), which ch-remote shows as the argument help. */
function optionSyntax(id: string): string {
  return CLI_OPTIONS.find((spec) => spec.id === id)?.help.split('\n').at(-1) ?? '';
}

function jsonRequest(method: HttpMethod, endpoint: string, body: unknown): ApiRequest {
  return { method, endpoint, body: JSON.stringify(body) };
}

function noArgumentCommand(name: string, about: string, method: HttpMethod, endpoint: string): RemoteCommand {
  return { name, about, request: () => ({ method, endpoint }) };
}

/** A descriptor of nimbus-remote to pass to the VMM, and the argument that names it (`net_fds (net0)`). */
interface NamedDescriptor {
  fd: number;
  argument: string;
}

function descriptorNotOpen(command: string, { fd, argument }: NamedDescriptor): RemoteError {
  const what = `${command} ${argument}: file descriptor ${fd}`;
  if (fd < 0) return new RemoteError('DESCRIPTOR_NOT_OPEN', `${what} is invalid: descriptor numbers are 0 or more`);
  return new RemoteError(
    'DESCRIPTOR_NOT_OPEN',
    `${what} is not open in nimbus-remote; the numbers name descriptors nimbus-remote inherits, so open it in ` +
      `the process that starts nimbus-remote (in a shell: ${fd}<>/path/to/file)`,
  );
}

/** A PUT request with a JSON body and the descriptors passed with it, checked to be open and not too many. */
function requestWithFds(
  command: string,
  body: unknown,
  descriptors: readonly NamedDescriptor[],
  context: CommandContext,
): ApiRequest {
  const request = jsonRequest('PUT', `vm.${command}`, body);
  if (descriptors.length === 0) return request;
  if (descriptors.length > MAX_FDS_PER_REQUEST) {
    const message = `${command}: ${descriptors.length} file descriptors given; at most ${MAX_FDS_PER_REQUEST} can be passed with one request`;
    throw new RemoteError('INVALID_ARGUMENT', message);
  }
  const closed = descriptors.find(({ fd }) => fd < 0 || !context.isOpenDescriptor(fd));
  if (closed !== undefined) throw descriptorNotOpen(command, closed);
  return { ...request, fds: descriptors.map(({ fd }) => fd) };
}

/** `vfio_fds` entries without their descriptors (as upstream sends them), and the descriptors of the entries. */
function takeVfioFds(entries: readonly RestoredVfioConfig[] | undefined): {
  entries: RestoredVfioConfig[] | undefined;
  descriptors: NamedDescriptor[];
} {
  const descriptors: NamedDescriptor[] = [];
  for (const { id, fd } of entries ?? []) {
    if (fd !== undefined) descriptors.push({ fd, argument: `vfio_fds (${id})` });
  }
  return { entries: entries?.map(({ id }) => ({ id })), descriptors };
}

function iommufdDescriptor(fd: number | undefined): NamedDescriptor[] {
  return fd === undefined ? [] : [{ fd, argument: 'iommufd_fd' }];
}

/** `restore`: the descriptors of net_fds, then vfio_fds, then iommufd_fd (as the VMM shares them out). */
function restoreRequest(config: RestoreConfig, context: CommandContext): ApiRequest {
  const netDescriptors = (config.net_fds ?? []).flatMap(({ id, fds }) =>
    (fds ?? []).map((fd) => ({ fd, argument: `net_fds (${id})` })),
  );
  const vfio = takeVfioFds(config.vfio_fds);
  const body = omitUndefined<RestoreConfig>({
    ...config,
    net_fds: config.net_fds?.map(({ id, num_fds }) => ({ id, num_fds })),
    vfio_fds: vfio.entries,
    iommufd_fd: undefined,
  });
  const descriptors = [...netDescriptors, ...vfio.descriptors, ...iommufdDescriptor(config.iommufd_fd)];
  return requestWithFds('restore', body, descriptors, context);
}

/** `receive-migration`: the descriptors of vfio_fds, then iommufd_fd (as the VMM shares them out). */
function receiveMigrationRequest(data: ReceiveMigrationArguments, context: CommandContext): ApiRequest {
  const vfio = takeVfioFds(data.vfio_fds);
  const body = omitUndefined<ReceiveMigrationArguments>({
    receiver_url: data.receiver_url,
    tls_dir: data.tls_dir,
    memory_mode: data.memory_mode,
    vfio_fds: vfio.entries,
    iommufd_fd: undefined,
    zone_updates: data.zone_updates,
  });
  return requestWithFds('receive-migration', body, [...vfio.descriptors, ...iommufdDescriptor(data.iommufd_fd)], context);
}

/** Runs a syntax parser, reporting its errors under ch-remote's "Error parsing <what>" heading. */
function parseSyntax<T>(heading: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof CliError || (error instanceof RemoteError && error.code === 'INVALID_ARGUMENT')) {
      throw new RemoteError('INVALID_ARGUMENT', heading, { cause: error });
    }
    throw error;
  }
}

interface AddCommandSpec<T> {
  name: string;
  about: string;
  /** The `nimbus` option whose syntax the argument uses. */
  option: string;
  /** ch-remote's heading for a syntax error. */
  heading: string;
  parse(input: string, context: CommandContext): T;
  /** For a config that names descriptors: the body without them (as ch-remote sends it) and the descriptors. */
  takeFds?(config: T): { body: unknown; descriptors: NamedDescriptor[] };
}

function addCommand<T>(spec: AddCommandSpec<T>): RemoteCommand {
  const argumentName = `${spec.option.replaceAll('-', '_')}_config`;
  return {
    name: spec.name,
    about: spec.about,
    positional: { name: argumentName, help: optionSyntax(spec.option) },
    request(args, context) {
      const config = parseSyntax(spec.heading, () => spec.parse(args.positional(), context));
      const { body, descriptors } = spec.takeFds?.(config) ?? { body: config, descriptors: [] };
      return requestWithFds(spec.name, body, descriptors, context);
    },
  };
}

function invalidValue(heading: string, option: string, value: string, expected: string): RemoteError {
  return new RemoteError('INVALID_ARGUMENT', heading, {
    cause: new RemoteError('INVALID_ARGUMENT', `invalid value "${value}" for --${option}: expected ${expected}`),
  });
}

/** A K/M/G byte size. */
function parseSize(text: string, option: string, heading: string): number {
  const size = parseByteSize(text);
  if (size === undefined) throw invalidValue(heading, option, text, EXPECTED_SIZE);
  return size;
}

function optionalSize(args: CommandArguments, option: string, heading: string): number | undefined {
  const text = args.option(option);
  return text === undefined ? undefined : parseSize(text, option, heading);
}

const SIZE_HELP = 'supports K/M/G suffix';

function resizeRequest(args: CommandArguments): ApiRequest {
  const cpus = args.option('cpus');
  let desiredVcpus: number | undefined;
  if (cpus !== undefined) {
    desiredVcpus = parseInteger(cpus, 'u32');
    if (desiredVcpus === undefined) throw invalidValue('Error parsing CPU count', 'cpus', cpus, expectedInteger('u32'));
  }
  const body = omitUndefined<VmResize>({
    desired_vcpus: desiredVcpus,
    desired_ram: optionalSize(args, 'memory', 'Error parsing memory size'),
    desired_balloon: optionalSize(args, 'balloon', 'Error parsing balloon size'),
  });
  if (Object.keys(body).length === 0) {
    const message = 'resize needs at least one of --cpus <cpus>, --memory <memory>, --balloon <balloon>';
    throw usageError('MISSING_ARGUMENT', message, 'resize');
  }
  return jsonRequest('PUT', 'vm.resize', body);
}

function createRequest(args: CommandArguments, context: CommandContext): ApiRequest {
  const path = args.positional();
  try {
    // Sent as read, like ch-remote: the VMM reports what is wrong with the configuration.
    return { method: 'PUT', endpoint: 'vm.create', body: context.readInput(path) };
  } catch (error) {
    throw new RemoteError('READ_FAILED', path === '-' ? 'Error reading from stdin' : `Error reading from file ${path}`, {
      cause: error,
    });
  }
}

/** Every command, in ch-remote's (alphabetical) help order. */
export const REMOTE_COMMANDS: readonly RemoteCommand[] = [
  addCommand({
    name: 'add-device', about: 'Add VFIO device', option: 'device', heading: 'Error parsing device syntax',
    parse: (input) => parseDevice(input),
    takeFds: ({ fd, ...body }) => ({ body, descriptors: fd === undefined ? [] : [{ fd, argument: 'fd' }] }),
  }),
  addCommand({
    name: 'add-disk', about: 'Add block device', option: 'disk', heading: 'Error parsing disk syntax',
    parse: (input) => parseDisk(input),
  }),
  addCommand({
    name: 'add-fs', about: 'Add virtio-fs backed fs device', option: 'fs', heading: 'Error parsing filesystem syntax',
    parse: (input) => parseFs(input),
  }),
  addCommand({
    name: 'add-generic-vhost-user', about: 'Add generic vhost-user device', option: 'generic-vhost-user',
    heading: 'Error parsing generic vhost-user syntax',
    parse: (input, context) => parseGenericVhostUser(input, (message) => context.warn(message)),
  }),
  addCommand({
    name: 'add-net', about: 'Add network device', option: 'net', heading: 'Error parsing network syntax',
    parse: (input) => parseNet(input),
    takeFds: ({ fds, ...body }) => ({ body, descriptors: (fds ?? []).map((fd) => ({ fd, argument: 'fd' })) }),
  }),
  addCommand({
    name: 'add-pmem', about: 'Add persistent memory device', option: 'pmem', heading: 'Error parsing persistent memory syntax',
    parse: (input) => parsePmem(input),
  }),
  addCommand({
    name: 'add-user-device', about: 'Add userspace device', option: 'user-device', heading: 'Error parsing user device syntax',
    parse: (input) => parseUserDevice(input),
  }),
  addCommand({
    name: 'add-vdpa', about: 'Add vDPA device', option: 'vdpa', heading: 'Error parsing vDPA device syntax',
    parse: (input) => parseVdpa(input),
  }),
  addCommand({
    name: 'add-vsock', about: 'Add vsock device', option: 'vsock', heading: 'Error parsing vsock syntax',
    parse: (input) => parseVsock(input),
  }),
  noArgumentCommand('boot', 'Boot a created VM', 'PUT', 'vm.boot'),
  {
    name: 'coredump', about: 'Create a coredump from VM',
    positional: { name: 'coredump_config', help: '<file_path>' },
    request: (args) => jsonRequest('PUT', 'vm.coredump', { destination_url: args.positional() }),
  },
  noArgumentCommand('counters', 'Counters from the VM', 'GET', 'vm.counters'),
  {
    name: 'create', about: 'Create VM from a JSON configuration',
    positional: { name: 'path', help: 'VmConfig JSON file, or - for standard input', defaultValue: '-' },
    request: createRequest,
  },
  noArgumentCommand('delete', 'Delete a VM', 'PUT', 'vm.delete'),
  noArgumentCommand('info', 'Info on the VM', 'GET', 'vm.info'),
  noArgumentCommand('nmi', 'Trigger NMI', 'PUT', 'vm.nmi'),
  noArgumentCommand('pause', 'Pause the VM', 'PUT', 'vm.pause'),
  noArgumentCommand('ping', 'Ping the VMM to check for API server availability', 'GET', 'vmm.ping'),
  noArgumentCommand('power-button', 'Trigger a power button in the VM', 'PUT', 'vm.power-button'),
  noArgumentCommand('reboot', 'Reboot the VM', 'PUT', 'vm.reboot'),
  {
    name: 'receive-migration', about: 'Receive a VM migration',
    positional: { name: 'receive_migration_config', help: RECEIVE_MIGRATION_SYNTAX },
    request(args, context) {
      const heading = 'Error parsing receive migration configuration';
      return receiveMigrationRequest(parseSyntax(heading, () => parseReceiveMigration(args.positional())), context);
    },
  },
  {
    name: 'remove-device', about: 'Remove VFIO and PCI device',
    positional: { name: 'id', help: '<device_id>' },
    request: (args) => jsonRequest('PUT', 'vm.remove-device', { id: args.positional() }),
  },
  {
    name: 'resize', about: 'Resize the VM',
    options: [
      { name: 'balloon', help: `New balloon size in bytes (${SIZE_HELP})`, required: false },
      { name: 'cpus', help: 'New vCPUs count', required: false },
      { name: 'memory', help: `New memory size in bytes (${SIZE_HELP})`, required: false },
    ],
    request: resizeRequest,
  },
  {
    name: 'resize-disk', about: 'Resize an attached disk',
    options: [
      { name: 'disk', help: 'Disk identifier', required: true },
      { name: 'size', help: `New disk size (${SIZE_HELP})`, required: true },
    ],
    request: (args) =>
      jsonRequest('PUT', 'vm.resize-disk', {
        id: args.requiredOption('disk'),
        desired_size: parseSize(args.requiredOption('size'), 'size', 'Invalid disk size'),
      }),
  },
  {
    name: 'resize-zone', about: 'Resize a memory zone',
    options: [
      { name: 'id', help: 'Memory zone identifier', required: true },
      { name: 'size', help: `New memory zone size in bytes (${SIZE_HELP})`, required: true },
    ],
    request: (args) =>
      jsonRequest('PUT', 'vm.resize-zone', {
        id: args.requiredOption('id'),
        desired_ram: parseSize(args.requiredOption('size'), 'size', 'Error parsing memory size'),
      }),
  },
  {
    name: 'restore', about: 'Restore VM from a snapshot',
    positional: { name: 'restore_config', help: optionSyntax('restore') },
    request: (args, context) =>
      restoreRequest(parseSyntax('Error parsing restore syntax', () => parseRestore(args.positional())), context),
  },
  noArgumentCommand('resume', 'Resume the VM', 'PUT', 'vm.resume'),
  {
    name: 'send-migration', about: 'Initiate a VM migration',
    positional: { name: 'send_migration_config', help: SEND_MIGRATION_SYNTAX },
    request(args) {
      const heading = 'Error parsing send migration configuration';
      return jsonRequest('PUT', 'vm.send-migration', parseSyntax(heading, () => parseSendMigration(args.positional())));
    },
  },
  noArgumentCommand('shutdown', 'Shutdown the VM', 'PUT', 'vm.shutdown'),
  noArgumentCommand('shutdown-vmm', 'Shutdown the VMM', 'PUT', 'vmm.shutdown'),
  {
    name: 'snapshot', about: 'Create a snapshot from VM',
    positional: { name: 'snapshot_config', help: '<destination_url>' },
    request: (args) => jsonRequest('PUT', 'vm.snapshot', { destination_url: args.positional() }),
  },
];

export function findCommand(name: string): RemoteCommand | undefined {
  return REMOTE_COMMANDS.find((command) => command.name === name);
}
