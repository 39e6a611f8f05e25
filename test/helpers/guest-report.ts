/**
 * Parser for the serial output of the test guests (test/guests/src/report and smp): `key=value` (or `key: value`)
 * lines, records whose value is space-separated `field=value` pairs, `smp.cpu <id> online`, `report.done` and
 * `PANIC <reason>`. Values escape bytes outside printable ASCII (and the backslash) as \xNN. Lines outside this
 * grammar and keys the parser does not know end up in `unrecognized`, so a test can check that guest and parser
 * agree (after a PANIC, the first lines of the section the guest was printing may be left there too).
 */
import { GuestRecord, parseGuestNumber } from './guest-record.ts';
import { NimbusError } from '../../src/errors/nimbus-error.ts';

/** The guest output does not follow the report grammar. */
export class GuestReportError extends NimbusError {}

export interface EntryState {
  cr0: number;
  cr4: number;
  efer: number;
  eflags: number;
  cs: number;
  ds: number;
  es: number;
  ss: number;
}

export interface StartInfo {
  address: number;
  magic: number;
  version: number;
  flags: number;
}

export interface Cmdline {
  address: number;
  /** Absent when cmdline_paddr is 0. */
  text?: string;
  truncated: boolean;
}

export interface MemmapEntry {
  address: number;
  size: number;
  type: number;
}

export interface ModuleEntry {
  address: number;
  size: number;
  cmdline: number;
  /** The module lies inside one RAM entry of the memory map. */
  inRam: boolean;
  /** CRC-32 (zlib's) of the module contents; only computed when inRam. */
  crc32?: number;
}

export interface Rsdp {
  address: number;
  revision: number;
  oem: string;
  checksumOk: boolean;
  /** Revision 2 and later. */
  extendedChecksumOk?: boolean;
  rsdt: number;
  xsdt?: number;
}

export interface AcpiTable {
  signature: string;
  address: number;
  length: number;
  revision: number;
  oem: string;
  checksumOk: boolean;
}

export interface GenericAddress {
  space: number;
  bitWidth: number;
  bitOffset: number;
  accessSize: number;
  address: number;
}

export interface Fadt {
  flags: number;
  hardwareReduced: boolean;
  dsdt: number;
  minorVersion?: number;
  reset?: GenericAddress & { value: number };
  sleepControl?: GenericAddress;
  sleepStatus?: GenericAddress;
  hypervisor?: string;
}

export interface MadtCpu {
  apicId: number;
  uid: number;
  flags: number;
  x2apic: boolean;
  enabled: boolean;
  onlineCapable: boolean;
}

export interface Madt {
  lapicAddress: number;
  flags: number;
  cpus: MadtCpu[];
  enabledCpus: number;
  possibleCpus: number;
  ioapics: { id: number; address: number; gsiBase: number }[];
  overrides: { bus: number; source: number; gsi: number; flags: number }[];
  lapicNmis: { uid: number; flags: number; lint: number }[];
  otherEntries: { type: number; length: number }[];
}

export interface McfgAllocation {
  base: number;
  segment: number;
  busStart: number;
  busEnd: number;
}

export interface SmpResult {
  bsp: number;
  /** Enabled CPUs in the MADT, the BSP included. */
  expected: number;
  /** CPUs running at the end, the BSP included; absent if the guest stopped before. */
  online?: number;
  /** APIC IDs of the APs that checked in, in order. */
  apsOnline: number[];
  timeoutApic?: number;
}

export interface GuestReport {
  guest?: string;
  done: boolean;
  panic?: string;
  entry?: EntryState;
  startInfo?: StartInfo;
  lapic?: { id: number; mode: 'xapic' | 'x2apic' };
  cmdline?: Cmdline;
  memmap?: { address: number; count: number; entries: MemmapEntry[] };
  modules?: { address: number; count: number; entries: ModuleEntry[] };
  rsdp?: Rsdp;
  acpiTables: AcpiTable[];
  acpiUnreadable: number[];
  fadt?: Fadt;
  madt?: Madt;
  mcfg: McfgAllocation[];
  smp?: SmpResult;
  unrecognized: string[];
}

const MADT_CPU_ENABLED = 0x1;
const MADT_CPU_ONLINE_CAPABLE = 0x2;
const FADT_FLAG_HW_REDUCED_ACPI = 1 << 20;

function unescape(text: string): string {
  return text.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

function malformed(message: string): GuestReportError {
  return new GuestReportError('GUEST_REPORT_MALFORMED', message);
}

function parseNumber(text: string, what: string): number {
  return parseGuestNumber(text, what, malformed);
}

function parseOk(text: string, what: string): boolean {
  if (text === 'ok') return true;
  if (text === 'bad') return false;
  throw malformed(`${what}: expected ok or bad, got "${text}"`);
}

function gas(record: GuestRecord): GenericAddress {
  return {
    space: record.number('space'),
    bitWidth: record.number('width'),
    bitOffset: record.number('offset'),
    accessSize: record.number('access'),
    address: record.number('addr'),
  };
}

/** The key=value lines of one output, consumed by the builders below; what is left over is unrecognized. */
class ReportLines {
  private readonly values = new Map<string, string[]>();
  private readonly lines = new Map<string, string[]>();

  add(key: string, value: string, line: string): void {
    this.values.set(key, [...(this.values.get(key) ?? []), value]);
    this.lines.set(key, [...(this.lines.get(key) ?? []), line]);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  /** Every value of a repeated key. */
  all(key: string): string[] {
    const values = this.values.get(key) ?? [];
    this.values.delete(key);
    this.lines.delete(key);
    return values;
  }

  optional(key: string): string | undefined {
    const values = this.all(key);
    if (values.length > 1) throw new GuestReportError('GUEST_REPORT_DUPLICATE', `${key} appears ${values.length} times`);
    return values[0];
  }

  text(key: string): string {
    const value = this.optional(key);
    if (value === undefined) throw malformed(`${key} is missing`);
    return value;
  }

  number(key: string): number {
    return parseNumber(this.text(key), key);
  }

  optionalNumber(key: string): number | undefined {
    const value = this.optional(key);
    return value === undefined ? undefined : parseNumber(value, key);
  }

  records(key: string): GuestRecord[] {
    return this.all(key).map((value) => new GuestRecord(key, value, malformed, unescape));
  }

  record(key: string): GuestRecord | undefined {
    const value = this.optional(key);
    return value === undefined ? undefined : new GuestRecord(key, value, malformed, unescape);
  }

  leftover(): string[] {
    return [...this.lines.values()].flat();
  }
}

function entryState(lines: ReportLines): EntryState | undefined {
  if (!lines.has('entry.cr0')) return undefined;
  return {
    cr0: lines.number('entry.cr0'),
    cr4: lines.number('entry.cr4'),
    efer: lines.number('entry.efer'),
    eflags: lines.number('entry.eflags'),
    cs: lines.number('entry.cs'),
    ds: lines.number('entry.ds'),
    es: lines.number('entry.es'),
    ss: lines.number('entry.ss'),
  };
}

function startInfo(lines: ReportLines): StartInfo | undefined {
  if (!lines.has('start_info.addr')) return undefined;
  return {
    address: lines.number('start_info.addr'),
    magic: lines.number('start_info.magic'),
    version: lines.number('start_info.version'),
    flags: lines.number('start_info.flags'),
  };
}

function lapic(lines: ReportLines): GuestReport['lapic'] {
  if (!lines.has('lapic.id')) return undefined;
  const id = lines.number('lapic.id');
  const mode = lines.text('lapic.mode');
  if (mode !== 'xapic' && mode !== 'x2apic') throw malformed(`lapic.mode: "${mode}"`);
  return { id, mode };
}

function cmdline(lines: ReportLines): Cmdline | undefined {
  if (!lines.has('cmdline.addr')) return undefined;
  const result: Cmdline = { address: lines.number('cmdline.addr'), truncated: lines.optional('cmdline.truncated') === '1' };
  const text = lines.optional('cmdline');
  if (text !== undefined) result.text = unescape(text);
  return result;
}

function memmap(lines: ReportLines): GuestReport['memmap'] {
  if (!lines.has('memmap.addr')) return undefined;
  return {
    address: lines.number('memmap.addr'),
    count: lines.number('memmap.count'),
    entries: lines.records('memmap.entry').map((r) => ({ address: r.number('addr'), size: r.number('size'), type: r.number('type') })),
  };
}

function modules(lines: ReportLines): GuestReport['modules'] {
  if (!lines.has('modules.addr')) return undefined;
  return {
    address: lines.number('modules.addr'),
    count: lines.number('modules.count'),
    entries: lines.records('module').map((r) => {
      const entry: ModuleEntry = {
        address: r.number('addr'),
        size: r.number('size'),
        cmdline: r.number('cmdline'),
        inRam: r.text('ram') === 'yes',
      };
      const crc32 = r.optionalNumber('crc32');
      if (crc32 !== undefined) entry.crc32 = crc32;
      return entry;
    }),
  };
}

function rsdp(lines: ReportLines): Rsdp | undefined {
  if (!lines.has('rsdp.revision')) return undefined;
  const result: Rsdp = {
    address: lines.number('rsdp.addr'),
    revision: lines.number('rsdp.revision'),
    oem: unescape(lines.text('rsdp.oem')),
    checksumOk: parseOk(lines.text('rsdp.checksum'), 'rsdp.checksum'),
    rsdt: lines.number('rsdp.rsdt'),
  };
  const extended = lines.optional('rsdp.extended_checksum');
  if (extended !== undefined) result.extendedChecksumOk = parseOk(extended, 'rsdp.extended_checksum');
  const xsdt = lines.optionalNumber('rsdp.xsdt');
  if (xsdt !== undefined) result.xsdt = xsdt;
  return result;
}

function fadt(lines: ReportLines): Fadt | undefined {
  if (!lines.has('fadt.flags')) return undefined;
  const flags = lines.number('fadt.flags');
  const hardwareReduced = lines.text('fadt.hw_reduced') === '1';
  if (hardwareReduced !== ((flags & FADT_FLAG_HW_REDUCED_ACPI) !== 0)) {
    throw malformed('fadt.hw_reduced disagrees with fadt.flags');
  }
  const result: Fadt = { flags, hardwareReduced, dsdt: lines.number('fadt.dsdt') };
  const minor = lines.optionalNumber('fadt.minor');
  if (minor !== undefined) result.minorVersion = minor;
  const reset = lines.record('fadt.reset');
  if (reset) result.reset = { ...gas(reset), value: reset.number('value') };
  const sleepControl = lines.record('fadt.sleep_control');
  if (sleepControl) result.sleepControl = gas(sleepControl);
  const sleepStatus = lines.record('fadt.sleep_status');
  if (sleepStatus) result.sleepStatus = gas(sleepStatus);
  const hypervisor = lines.optional('fadt.hypervisor');
  if (hypervisor !== undefined) result.hypervisor = unescape(hypervisor);
  return result;
}

function madt(lines: ReportLines): Madt | undefined {
  if (!lines.has('madt.lapic_addr')) return undefined;
  return {
    lapicAddress: lines.number('madt.lapic_addr'),
    flags: lines.number('madt.flags'),
    cpus: lines.records('madt.cpu').map((r) => {
      const flags = r.number('flags');
      return {
        apicId: r.number('apic'),
        uid: r.number('uid'),
        flags,
        x2apic: r.number('x2apic') === 1,
        enabled: (flags & MADT_CPU_ENABLED) !== 0,
        onlineCapable: (flags & MADT_CPU_ONLINE_CAPABLE) !== 0,
      };
    }),
    enabledCpus: lines.number('madt.cpus.enabled'),
    possibleCpus: lines.number('madt.cpus.possible'),
    ioapics: lines.records('madt.ioapic').map((r) => ({ id: r.number('id'), address: r.number('addr'), gsiBase: r.number('gsi_base') })),
    overrides: lines
      .records('madt.override')
      .map((r) => ({ bus: r.number('bus'), source: r.number('source'), gsi: r.number('gsi'), flags: r.number('flags') })),
    lapicNmis: lines.records('madt.lapic_nmi').map((r) => ({ uid: r.number('uid'), flags: r.number('flags'), lint: r.number('lint') })),
    otherEntries: lines.records('madt.entry').map((r) => ({ type: r.number('type'), length: r.number('len') })),
  };
}

function smp(lines: ReportLines, apsOnline: number[]): SmpResult | undefined {
  if (!lines.has('smp.bsp')) return undefined;
  const result: SmpResult = { bsp: lines.number('smp.bsp'), expected: lines.number('smp.expected'), apsOnline };
  const online = lines.optionalNumber('smp.online');
  if (online !== undefined) result.online = online;
  const timeoutApic = lines.optionalNumber('smp.timeout_apic');
  if (timeoutApic !== undefined) result.timeoutApic = timeoutApic;
  return result;
}

/** Parses a test guest's serial output (it may hold \r\n line ends and text before the report). */
export function parseGuestReport(output: string): GuestReport {
  const lines = new ReportLines();
  const unrecognized: string[] = [];
  const apsOnline: number[] = [];
  let done = false;
  let panic: string | undefined;
  for (const raw of output.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '') continue;
    const cpu = /^smp\.cpu (\d+) online$/.exec(line);
    const keyValue = /^([A-Za-z0-9_.]+)(?:=|: )(.*)$/.exec(line);
    if (line === 'report.done') done = true;
    else if (line.startsWith('PANIC ')) panic = line.slice('PANIC '.length);
    else if (cpu) apsOnline.push(parseNumber(cpu[1] ?? '', 'smp.cpu'));
    else if (keyValue) lines.add(keyValue[1] ?? '', keyValue[2] ?? '', line);
    else unrecognized.push(line);
  }

  const guest = lines.optional('report.guest');
  const report: GuestReport = {
    done,
    acpiTables: lines.records('acpi.table').map((r) => ({
      signature: r.text('sig'),
      address: r.number('addr'),
      length: r.number('len'),
      revision: r.number('rev'),
      oem: r.text('oem'),
      checksumOk: parseOk(r.text('checksum'), 'acpi.table.checksum'),
    })),
    acpiUnreadable: lines.all('acpi.unreadable').map((v) => parseNumber(v, 'acpi.unreadable')),
    mcfg: lines.records('mcfg.allocation').map((r) => ({
      base: r.number('base'),
      segment: r.number('segment'),
      busStart: r.number('bus_start'),
      busEnd: r.number('bus_end'),
    })),
    unrecognized,
  };
  if (guest !== undefined) report.guest = guest;
  if (panic !== undefined) report.panic = panic;
  const entry = entryState(lines);
  if (entry) report.entry = entry;
  const info = startInfo(lines);
  if (info) report.startInfo = info;
  const apic = lapic(lines);
  if (apic) report.lapic = apic;
  const commandLine = cmdline(lines);
  if (commandLine) report.cmdline = commandLine;
  const memoryMap = memmap(lines);
  if (memoryMap) report.memmap = memoryMap;
  const moduleList = modules(lines);
  if (moduleList) report.modules = moduleList;
  const rootPointer = rsdp(lines);
  if (rootPointer) report.rsdp = rootPointer;
  const fixedDescription = fadt(lines);
  if (fixedDescription) report.fadt = fixedDescription;
  const apicDescription = madt(lines);
  if (apicDescription) report.madt = apicDescription;
  const cpus = smp(lines, apsOnline);
  if (cpus) report.smp = cpus;
  if (!report.smp && apsOnline.length > 0) unrecognized.push(...apsOnline.map((id) => `smp.cpu ${id} online`));
  report.unrecognized.push(...lines.leftover());
  return report;
}

/** The first ACPI table with this signature, or undefined. */
export function findAcpiTable(report: GuestReport, signature: string): AcpiTable | undefined {
  return report.acpiTables.find((t) => t.signature === signature);
}
