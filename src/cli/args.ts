/**
 * Parses a `nimbus` command line (the arguments after the program name) the way Cloud Hypervisor's clap definition
 * does, into VMM options and a validated VM configuration. A small tokenizer of our own is used instead of Node's
 * `util.parseArgs`, which cannot express clap's `num_args(1..)` value runs (`--disk a b`), the optional value of
 * `--rtc`, the rejection of repeated single-value options, or option-specific messages.
 *
 * Pipeline: tokenize -> help/`requires(vm-payload)`/version -> sub-option parsing -> `validateVmConfig` ->
 * (in `parseCommandLine`) `checkSupported`/`checkVmmSupported`. Errors are CliError (malformed command line) or
 * ConfigError (invalid or not yet supported configuration); both mean exit status 1.
 */
import { omitUndefined } from '../vmm/config/omit-undefined.ts';
import { fieldForOption } from '../vmm/config/option-names.ts';
import { checkSupported, checkVmmSupported } from '../vmm/config/supported.ts';
import { validateVmConfig } from '../vmm/config/validate.ts';
import type { PayloadConfig, VmConfig, VmConfigField } from '../vmm/config/vm-config.ts';
import { SECCOMP_MODES, type SeccompMode, type VmmOptions } from '../vmm/config/vmm-options.ts';
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
import { helpText } from './help.ts';
import { CLI_OPTIONS, type CliOptionSpec } from './option-table.ts';
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
import { parseApiSocket, parseEventMonitor, parseRestore } from './vmm-option-parsers.ts';

/** Start the VMM with these options (and boot `vm` if given). */
export interface RunCommand {
  kind: 'run';
  vmm: VmmOptions;
  /** Present when a payload (`--kernel`/`--firmware`) was given; otherwise the VMM starts without a VM. */
  vm?: VmConfig;
  /** Top-level `VmConfig` fields set by an explicit option (as opposed to upstream defaults). */
  explicitFields: ReadonlySet<VmConfigField>;
  /** Deprecation and "ignored" notices to log once logging is set up. */
  warnings: string[];
}

/** What the entry point should do: print help or the version (exit 0), or run. */
export type CommandLine = { kind: 'help'; text: string } | { kind: 'version'; text: string } | RunCommand;

/** Values of each option as given (one entry per value), and the number of times each flag was given. */
interface Occurrences {
  readonly values: Map<string, string[]>;
  readonly counts: Map<string, number>;
}

const LONG_OPTIONS = new Map(CLI_OPTIONS.filter((spec) => spec.long !== undefined).map((spec) => [spec.long, spec]));
const SHORT_OPTIONS = new Map(CLI_OPTIONS.filter((spec) => spec.short !== undefined).map((spec) => [spec.short, spec]));

/**
 * Parses a command line and rejects what Nimbus does not implement yet (`checkSupported`, `checkVmmSupported`).
 * `version` is the package version, printed by `-V/--version` as `nimbus <version>`.
 */
export function parseCommandLine(args: readonly string[], version: string): CommandLine {
  const command = parseCloudHypervisorCommandLine(args, version);
  if (command.kind === 'run') {
    if (command.vm !== undefined) checkSupported(command.vm, command.explicitFields);
    checkVmmSupported(command.vmm);
  }
  return command;
}

/** Parses and validates a command line as Cloud Hypervisor would, accepting every option it accepts. */
export function parseCloudHypervisorCommandLine(args: readonly string[], version: string): CommandLine {
  if (args.length === 0) return { kind: 'help', text: helpText() };
  const occurrences = tokenize(args);
  if (occurrences === 'help') return { kind: 'help', text: helpText() };
  requirePayload(occurrences);
  if (occurrences.counts.has('version')) return { kind: 'version', text: `nimbus ${version}` };

  const warnings: string[] = [];
  const vmm = buildVmmOptions(occurrences);
  const explicitFields = new Set<VmConfigField>();
  for (const spec of CLI_OPTIONS) {
    const field = fieldForOption(display(spec));
    if (field !== undefined && isGiven(occurrences, spec)) explicitFields.add(field);
  }
  let vm: VmConfig | undefined;
  if (hasPayload(occurrences)) {
    const validated = validateVmConfig(buildVmConfig(occurrences, (message) => warnings.push(message)));
    warnings.push(...validated.warnings);
    vm = validated.config;
  }
  return omitUndefined<RunCommand>({ kind: 'run', vmm, vm, explicitFields, warnings });
}

function looksLikeOption(arg: string | undefined): boolean {
  return arg !== undefined && arg.startsWith('-') && arg.length > 1;
}

function display(spec: CliOptionSpec): string {
  return spec.long !== undefined ? `--${spec.long}` : `-${spec.short ?? spec.id}`;
}

/** Splits the arguments into option occurrences; returns 'help' as soon as -h/--help is seen (as clap does). */
function tokenize(args: readonly string[]): Occurrences | 'help' {
  const occurrences: Occurrences = { values: new Map(), counts: new Map() };
  let index = 0;
  while (index < args.length) {
    const arg = args[index++] ?? '';
    if (arg === '--') {
      const stray = args[index];
      if (stray === undefined) break;
      throw new CliError('UNKNOWN_OPTION', `unexpected argument "${stray}" after --; nimbus takes no positional arguments`);
    }
    if (arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      const name = arg.slice(2, equals === -1 ? undefined : equals);
      const spec = LONG_OPTIONS.get(name);
      if (spec === undefined) throw unknownOption(`--${name}`);
      if (spec.id === 'help') return 'help';
      const attached = equals === -1 ? undefined : arg.slice(equals + 1);
      index = record(spec, attached, args, index, occurrences);
    } else if (looksLikeOption(arg)) {
      // A cluster of short flags such as -vvv or -vV (no short option takes a value).
      for (const letter of arg.slice(1)) {
        const spec = SHORT_OPTIONS.get(letter);
        if (spec === undefined) throw unknownOption(`-${letter}`);
        if (spec.id === 'help') return 'help';
        record(spec, undefined, args, index, occurrences);
      }
    } else {
      throw new CliError(
        'UNKNOWN_OPTION',
        `unexpected argument "${arg}"; nimbus takes no positional arguments (did you forget an option name?)`,
      );
    }
  }
  return occurrences;
}

/** Records one occurrence of `spec`; returns the index of the next unconsumed argument. */
function record(
  spec: CliOptionSpec,
  attached: string | undefined,
  args: readonly string[],
  index: number,
  occurrences: Occurrences,
): number {
  const name = display(spec);
  if (spec.arity === 'flag' || spec.arity === 'count') {
    if (attached !== undefined) throw new CliError('INVALID_VALUE', `${name} takes no value (got "${attached}")`);
    const count = occurrences.counts.get(spec.id) ?? 0;
    if (spec.arity === 'flag' && count > 0) throw duplicate(name);
    occurrences.counts.set(spec.id, count + 1);
    return index;
  }
  const earlier = occurrences.values.get(spec.id);
  if (earlier !== undefined && spec.arity !== 'many') throw duplicate(name);
  const values = earlier ?? [];
  occurrences.values.set(spec.id, values);
  if (attached !== undefined) {
    values.push(attached);
    return index;
  }
  let position = index;
  while (position < args.length && !looksLikeOption(args[position])) {
    values.push(args[position] ?? '');
    position++;
    if (spec.arity !== 'many') break;
  }
  if (position === index) {
    if (spec.arity === 'optional') {
      values.push('');
      return index;
    }
    const hint = looksLikeOption(args[index]) ? `; write ${name}=<value> for a value that starts with "-"` : '';
    throw new CliError('MISSING_VALUE', `a value is required for ${name} <${spec.id}> but none was supplied${hint}`);
  }
  return position;
}

function duplicate(name: string): CliError {
  return new CliError('DUPLICATE_OPTION', `${name} cannot be used multiple times`);
}

function unknownOption(arg: string): CliError {
  const names = CLI_OPTIONS.map(display);
  const suggestion = names.find((name) => editDistance(name, arg) <= 2);
  const hint = suggestion === undefined ? '' : `; did you mean ${suggestion}?`;
  return new CliError('UNKNOWN_OPTION', `unknown option ${arg}${hint} (see nimbus --help)`);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, column) => column);
  for (let row = 1; row <= a.length; row++) {
    const current = [row];
    for (let column = 1; column <= b.length; column++) {
      const substitution = (previous[column - 1] ?? 0) + (a[row - 1] === b[column - 1] ? 0 : 1);
      current.push(Math.min((previous[column] ?? 0) + 1, (current[column - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function isGiven(occurrences: Occurrences, spec: CliOptionSpec): boolean {
  return occurrences.values.has(spec.id) || occurrences.counts.has(spec.id);
}

function hasPayload(occurrences: Occurrences): boolean {
  return CLI_OPTIONS.some((spec) => spec.group === 'vm-payload' && isGiven(occurrences, spec));
}

/** clap: every option of the `vm-config` group requires `--kernel` or `--firmware`. */
function requirePayload(occurrences: Occurrences): void {
  if (hasPayload(occurrences)) return;
  const vmOption = CLI_OPTIONS.find((spec) => spec.group === 'vm-config' && isGiven(occurrences, spec));
  if (vmOption !== undefined) {
    throw new CliError(
      'MISSING_PAYLOAD',
      `${display(vmOption)} configures a VM and needs a payload: add --kernel <path> or --firmware <path>`,
    );
  }
}

function buildVmmOptions(occurrences: Occurrences): VmmOptions {
  const given = (id: string): string | undefined => occurrences.values.get(id)?.[0];
  const seccomp = given('seccomp');
  if (seccomp !== undefined && !SECCOMP_MODES.includes(seccomp as SeccompMode)) {
    throw new CliError(
      'INVALID_VALUE',
      `invalid value "${seccomp}" for --seccomp; possible values: ${SECCOMP_MODES.join(', ')}`,
    );
  }
  const apiSocket = given('api-socket');
  const eventMonitor = given('event-monitor');
  const restore = given('restore');
  return omitUndefined<VmmOptions>({
    apiSocket: apiSocket === undefined ? undefined : parseApiSocket(apiSocket),
    eventMonitor: eventMonitor === undefined ? undefined : parseEventMonitor(eventMonitor),
    logFile: given('log-file'),
    logFormat: given('log-format'),
    verbosity: occurrences.counts.get('v') ?? 0,
    seccomp: seccomp as SeccompMode | undefined,
    noShutdown: occurrences.counts.has('no-shutdown'),
    restore: restore === undefined ? undefined : parseRestore(restore),
  });
}

/** Builds the VmConfig from the options, with upstream's default option strings for the omitted ones. */
function buildVmConfig(occurrences: Occurrences, warn: (message: string) => void): VmConfig {
  const all = (id: string): string[] | undefined => occurrences.values.get(id);
  const one = (id: string): string | undefined => all(id)?.[0];
  const withDefault = (id: string): string => one(id) ?? CLI_OPTIONS.find((spec) => spec.id === id)?.defaultValue ?? '';
  const flag = (id: string): boolean => occurrences.counts.has(id);
  const optional = <T>(id: string, parse: (input: string) => T): T | undefined => {
    const value = one(id);
    return value === undefined ? undefined : parse(value);
  };
  const payload = omitUndefined<PayloadConfig>({
    firmware: one('firmware'),
    kernel: one('kernel'),
    cmdline: one('cmdline'),
    initramfs: one('initramfs'),
    igvm: undefined,
    host_data: undefined,
  });
  return omitUndefined<VmConfig>({
    cpus: parseCpus(withDefault('cpus')),
    memory: parseMemory(withDefault('memory'), all('memory-zone')),
    payload,
    rate_limit_groups: all('rate-limit-group')?.map((input) => parseRateLimitGroup(input)),
    disks: all('disk')?.map((input) => parseDisk(input)),
    net: all('net')?.map((input) => parseNet(input)),
    rng: parseRng(withDefault('rng')),
    balloon: optional('balloon', parseBalloon),
    fs: all('fs')?.map((input) => parseFs(input)),
    generic_vhost_user: all('generic-vhost-user')?.map((input) => parseGenericVhostUser(input, warn)),
    pmem: all('pmem')?.map((input) => parsePmem(input)),
    serial: parseSerial(withDefault('serial')),
    console: parseConsole(withDefault('console')),
    debug_console: parseDebugConsole(withDefault('debug-console')),
    devices: all('device')?.map((input) => parseDevice(input)),
    user_devices: all('user-device')?.map((input) => parseUserDevice(input)),
    vdpa: all('vdpa')?.map((input) => parseVdpa(input)),
    vsock: optional('vsock', parseVsock),
    numa: all('numa')?.map((input) => parseNuma(input)),
    iommu: false,
    watchdog: flag('watchdog'),
    rtc: optional('rtc', parseRtc),
    pvpanic: flag('pvpanic'),
    pci_segments: all('pci-segment')?.map((input) => parsePciSegment(input)),
    platform: optional('platform', (input) => parsePlatform(input, warn)),
    tpm: optional('tpm', parseTpm),
    landlock_enable: flag('landlock'),
    landlock_rules: all('landlock-rules')?.map((input) => parseLandlockRule(input)),
  });
}
