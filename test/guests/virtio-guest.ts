/**
 * The console output of the `virtio` test guest (src/virtio/virtio.c), parsed: the PCI host it found (ECAM and
 * windows), every function on the root bus with its BARs and capabilities, and what its virtio-rng driver did. Shared
 * by the test that runs it under QEMU (the reference) and the one that runs it under Nimbus.
 *
 * Lines are `key=value`; records are `key=field=value field=value ...`. Lines the grammar does not know end up in
 * `unrecognized`, so a test can check that guest and parser agree.
 */
import { GuestRecord, parseGuestNumber } from '../helpers/guest-record.ts';
import { NimbusError } from '../../src/errors/nimbus-error.ts';

/** The guest output does not follow the virtio guest's grammar. */
export class VirtioGuestReportError extends NimbusError {}

export interface PciEcam {
  base: number;
  segment: number;
  busStart: number;
  busEnd: number;
  /** Where the guest found it: the MCFG, or the host bridge's _CBA in the DSDT (QEMU microvm has no MCFG). */
  source: 'mcfg' | 'dsdt';
}

export interface PciWindow {
  type: 'io' | 'mem32' | 'mem64';
  base: number;
  size: number;
}

export interface PciBar {
  index: number;
  type: 'io' | 'mem32' | 'mem64';
  prefetchable: boolean;
  address: number;
  size: number;
  /** firmware: placed before the guest ran (kept); assigned: placed by the guest from a window. */
  source: 'firmware' | 'assigned' | 'unassigned';
}

export interface MsixCapability {
  tableSize: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** A virtio vendor capability (struct virtio_pci_cap). */
export interface VirtioCapability {
  cfgType: number;
  bar: number;
  offset: number;
  length: number;
  /** The notification capability's notify_off_multiplier. */
  notifyMultiplier?: number;
}

export interface PciCapability {
  offset: number;
  id: number;
  msix?: MsixCapability;
  virtio?: VirtioCapability;
}

export interface PciFunction {
  /** bus:device.function, two hex digits each for bus and device. */
  bdf: string;
  vendor: number;
  device: number;
  revision: number;
  classCode: number;
  headerType: number;
  subsystemVendor: number;
  subsystem: number;
  bars: PciBar[];
  capabilities: PciCapability[];
}

export interface PciReport {
  ecam: PciEcam;
  windows: PciWindow[];
  functions: PciFunction[];
}

export interface VirtioRngReport {
  bdf: string;
  deviceFeatures: bigint;
  driverFeatures: bigint;
  queue: { index: number; maxSize: number; size: number; notifyOff: number; msixVector: number };
  msix: { entry: number; address: number; data: number };
  /** device_status after DRIVER_OK. */
  status: number;
  /** The bytes the device wrote into each posted buffer, in order. */
  rounds: Buffer[];
  /** MSI-X interrupts the guest counted. */
  interrupts: number;
}

export interface VirtioGuestReport {
  guest?: string;
  done: boolean;
  panic?: string;
  /** 'absent' when ACPI describes no ECAM. */
  pci?: PciReport | 'absent';
  /** 'absent' when no virtio-rng function is on the root bus; 'ok' after every round succeeded. */
  rngResult?: 'ok' | 'absent';
  rng?: VirtioRngReport;
  unrecognized: string[];
}

/** Virtio vendor capability types (virtio 1.2, 4.1.4). */
export const VIRTIO_PCI_CAP = { COMMON: 1, NOTIFY: 2, ISR: 3, DEVICE: 4, PCI_CFG: 5 } as const;
export const PCI_CAP_ID = { VENDOR: 0x09, MSIX: 0x11 } as const;
export const VIRTIO_F_VERSION_1 = 1n << 32n;
/** ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK. */
export const VIRTIO_STATUS_RUNNING = 0x0f;

function malformed(message: string): VirtioGuestReportError {
  return new VirtioGuestReportError('VIRTIO_GUEST_REPORT_MALFORMED', message);
}

function parseNumber(text: string, what: string): number {
  return parseGuestNumber(text, what, malformed);
}

function parseBigint(text: string, what: string): bigint {
  if (!/^0x[0-9a-f]+$/.test(text)) throw malformed(`${what}: "${text}" is not a hex number`);
  return BigInt(text);
}

function oneOf<T extends string>(text: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(text)) throw malformed(`${what}: "${text}" is not one of ${allowed.join(', ')}`);
  return text as T;
}


function ecam(record: GuestRecord): PciEcam {
  return {
    base: record.number('base'),
    segment: record.number('segment'),
    busStart: record.number('bus_start'),
    busEnd: record.number('bus_end'),
    source: oneOf(record.text('source'), ['mcfg', 'dsdt'] as const, 'pci.ecam.source'),
  };
}

function bar(record: GuestRecord): PciBar {
  return {
    index: record.number('index'),
    type: oneOf(record.text('type'), ['io', 'mem32', 'mem64'] as const, 'pci.bar.type'),
    prefetchable: record.number('prefetchable') === 1,
    address: record.number('addr'),
    size: record.number('size'),
    source: oneOf(record.text('source'), ['firmware', 'assigned', 'unassigned'] as const, 'pci.bar.source'),
  };
}

function capability(record: GuestRecord): PciCapability {
  const result: PciCapability = { offset: record.number('offset'), id: record.number('id') };
  const tableSize = record.optionalNumber('table_size');
  if (tableSize !== undefined) {
    result.msix = {
      tableSize,
      tableBar: record.number('table_bar'),
      tableOffset: record.number('table_offset'),
      pbaBar: record.number('pba_bar'),
      pbaOffset: record.number('pba_offset'),
    };
  }
  const cfgType = record.optionalNumber('cfg_type');
  if (cfgType !== undefined) {
    const virtio: VirtioCapability = {
      cfgType,
      bar: record.number('bar'),
      offset: record.number('bar_offset'),
      length: record.number('length'),
    };
    const multiplier = record.optionalNumber('notify_multiplier');
    if (multiplier !== undefined) virtio.notifyMultiplier = multiplier;
    result.virtio = virtio;
  }
  return result;
}

/** The function a per-function record belongs to: the last pci.function line, which must have the same bdf. */
function owner(functions: PciFunction[], record: GuestRecord, key: string): PciFunction {
  const bdf = record.text('bdf');
  const last = functions.at(-1);
  if (!last || last.bdf !== bdf) throw malformed(`${key} for ${bdf} does not follow that function's pci.function line`);
  return last;
}

/** Parses the virtio guest's serial output (it may hold \r\n line ends and text before the report). */
export function parseVirtioGuestReport(output: string): VirtioGuestReport {
  const report: VirtioGuestReport = { done: false, unrecognized: [] };
  let pci: PciReport | undefined;
  const rng: Partial<VirtioRngReport> & { rounds: Buffer[] } = { rounds: [] };
  let pendingBytes: number | undefined;
  const needPci = (key: string): PciReport => {
    if (!pci) throw malformed(`${key} before pci.ecam`);
    return pci;
  };

  for (const raw of output.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '') continue;
    if (line === 'report.done') {
      report.done = true;
      continue;
    }
    if (line.startsWith('PANIC ')) {
      report.panic = line.slice('PANIC '.length);
      continue;
    }
    const match = /^([a-z0-9_.]+)=(.*)$/.exec(line);
    const key = match?.[1] ?? '';
    const value = match?.[2] ?? '';
    const record = (): GuestRecord => new GuestRecord(key, value, malformed);
    switch (key) {
      case 'report.guest':
        report.guest = value;
        break;
      case 'pci':
        if (value !== 'absent') throw malformed(`pci=${value}`);
        report.pci = 'absent';
        break;
      case 'pci.ecam': {
        const r = record();
        pci = { ecam: ecam(r), windows: [], functions: [] };
        r.done();
        report.pci = pci;
        break;
      }
      case 'pci.window': {
        const r = record();
        needPci(key).windows.push({
          type: oneOf(r.text('type'), ['io', 'mem32', 'mem64'] as const, 'pci.window.type'),
          base: r.number('base'),
          size: r.number('size'),
        });
        r.done();
        break;
      }
      case 'pci.function': {
        const r = record();
        needPci(key).functions.push({
          bdf: r.text('bdf'),
          vendor: r.number('vendor'),
          device: r.number('device'),
          revision: r.number('revision'),
          classCode: r.number('class'),
          headerType: r.number('header'),
          subsystemVendor: r.number('subsystem_vendor'),
          subsystem: r.number('subsystem'),
          bars: [],
          capabilities: [],
        });
        r.done();
        break;
      }
      case 'pci.bar':
      case 'pci.cap': {
        const r = record();
        const f = owner(needPci(key).functions, r, key);
        if (key === 'pci.bar') f.bars.push(bar(r));
        else f.capabilities.push(capability(r));
        r.done();
        break;
      }
      case 'pci.functions':
        if (parseNumber(value, key) !== needPci(key).functions.length) throw malformed(`pci.functions=${value} disagrees with the pci.function lines`);
        break;
      case 'virtio.rng.device': {
        const r = record();
        rng.bdf = r.text('bdf');
        r.done();
        break;
      }
      case 'virtio.device_features':
        rng.deviceFeatures = parseBigint(value, key);
        break;
      case 'virtio.driver_features':
        rng.driverFeatures = parseBigint(value, key);
        break;
      case 'virtio.queue': {
        const r = record();
        rng.queue = { index: r.number('index'), maxSize: r.number('max_size'), size: r.number('size'), notifyOff: r.number('notify_off'), msixVector: r.number('msix_vector') };
        r.done();
        break;
      }
      case 'virtio.msix': {
        const r = record();
        rng.msix = { entry: r.number('entry'), address: r.number('address'), data: r.number('data') };
        r.done();
        break;
      }
      case 'virtio.status':
        rng.status = parseNumber(value, key);
        break;
      case 'virtio.rng.bytes':
        pendingBytes = parseNumber(value, key);
        break;
      case 'virtio.rng.data': {
        if (!/^([0-9a-f]{2})*$/.test(value)) throw malformed(`virtio.rng.data: "${value}" is not hex bytes`);
        const bytes = Buffer.from(value, 'hex');
        if (pendingBytes !== bytes.length) throw malformed(`virtio.rng.data holds ${bytes.length} bytes, virtio.rng.bytes said ${String(pendingBytes)}`);
        rng.rounds.push(bytes);
        pendingBytes = undefined;
        break;
      }
      case 'virtio.rng.interrupts':
        rng.interrupts = parseNumber(value, key);
        break;
      case 'virtio.rng':
        report.rngResult = oneOf(value, ['ok', 'absent'] as const, key);
        break;
      default:
        report.unrecognized.push(line);
    }
  }

  const { bdf, deviceFeatures, driverFeatures, queue, msix, status, interrupts } = rng;
  if (bdf !== undefined && deviceFeatures !== undefined && driverFeatures !== undefined && queue && msix && status !== undefined && interrupts !== undefined) {
    report.rng = { bdf, deviceFeatures, driverFeatures, queue, msix, status, rounds: rng.rounds, interrupts };
  }
  return report;
}

/** The function at `bdf`, or undefined. */
export function findFunction(pci: PciReport, bdf: string): PciFunction | undefined {
  return pci.functions.find((f) => f.bdf === bdf);
}

/** The function's virtio capabilities of one cfg_type. */
export function virtioCapabilities(f: PciFunction, cfgType: number): VirtioCapability[] {
  return f.capabilities.flatMap((c) => (c.virtio && c.virtio.cfgType === cfgType ? [c.virtio] : []));
}
