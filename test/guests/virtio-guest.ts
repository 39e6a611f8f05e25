/**
 * The console output of the `virtio` test guest (src/virtio/virtio.c), parsed: the PCI host it found (ECAM and
 * windows), every function on the root bus with its BARs and capabilities, and what its virtio-rng and virtio-blk
 * drivers did (src/virtio/blk.c; `virtioBlkTestPattern` is the block it writes). Shared by the test that runs it under
 * QEMU (the reference) and the one that runs it under Nimbus.
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

/** What every driver of the guest prints while bringing its device up (src/virtio/virtio_driver.c). */
export interface VirtioDriverReport {
  bdf: string;
  deviceFeatures: bigint;
  driverFeatures: bigint;
  queue: { index: number; maxSize: number; size: number; notifyOff: number; msixVector: number };
  msix: { entry: number; address: number; data: number };
  /** device_status after DRIVER_OK. */
  status: number;
}

export interface VirtioRngReport extends VirtioDriverReport {
  /** The bytes the device wrote into each posted buffer, in order. */
  rounds: Buffer[];
  /** MSI-X interrupts the guest counted. */
  interrupts: number;
}

/** One virtio-blk request on a block: the sector (512-byte units) and the status the device wrote. */
export interface BlkRequestResult {
  sector: number;
  status: number;
}

export interface VirtioBlkReport extends VirtioDriverReport {
  /** From the device configuration: capacity in 512-byte sectors, blk_size (512 unless VIRTIO_BLK_F_BLK_SIZE). */
  config: { capacity: number; blkSize: number; readOnly: boolean };
  /** The block at sector 0; crc32 (zlib's) when the read succeeded. */
  firstBlock: BlkRequestResult & { bytes: number; crc32?: number };
  /** GET_ID: the serial up to its first NUL (empty unless status is OK). */
  id: { status: number; serial: Buffer };
  /** Writable device: the pattern written to the test sector (crc32 of what the guest wrote). */
  write?: BlkRequestResult & { bytes: number; crc32: number };
  /** Writable device: the FLUSH status, or 'not_offered' without VIRTIO_BLK_F_FLUSH. */
  flush?: number | 'not_offered';
  /** Writable device: the block read back after the write (and flush) and whether it is the pattern. */
  readback?: BlkRequestResult & { match: boolean };
  /** Read-only device: the status of the refused write, and whether the block read afterwards is unchanged. */
  readOnlyWrite?: BlkRequestResult & { unchanged: boolean };
  /** Requests completed, and the MSI-X interrupts counted meanwhile (one per request). */
  requests: number;
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
  /** 'ok' when every virtio-blk check passed, 'failed' when one did not (the lines say which). */
  blkResult?: 'ok' | 'failed' | 'absent';
  blk?: VirtioBlkReport;
  unrecognized: string[];
}

/** Virtio vendor capability types (virtio 1.2, 4.1.4). */
export const VIRTIO_PCI_CAP = { COMMON: 1, NOTIFY: 2, ISR: 3, DEVICE: 4, PCI_CFG: 5 } as const;
export const PCI_CAP_ID = { VENDOR: 0x09, MSIX: 0x11 } as const;
export const VIRTIO_F_VERSION_1 = 1n << 32n;
/** ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK. */
export const VIRTIO_STATUS_RUNNING = 0x0f;
/** virtio-blk feature bits the guest negotiates when offered (virtio 1.2, 5.2.3). */
export const VIRTIO_BLK_F = { RO: 1n << 5n, BLK_SIZE: 1n << 6n, FLUSH: 1n << 9n } as const;
/** virtio-blk request status values. */
export const VIRTIO_BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
/** The sector the guest writes its pattern to (blk.c TEST_SECTOR). */
export const VIRTIO_BLK_TEST_SECTOR = 8;
export const SECTOR_BYTES = 512;

/** The block the guest writes to the test sector: byte i = (i * 13 + 0x5a) mod 256 (blk.c PATTERN_*). */
export function virtioBlkTestPattern(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 13 + 0x5a) & 0xff));
}

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

function parseHexBytes(text: string, what: string): Buffer {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw malformed(`${what}: "${text}" is not hex bytes`);
  return Buffer.from(text, 'hex');
}

function flag(record: GuestRecord, field: string): boolean {
  const value = record.number(field);
  if (value !== 0 && value !== 1) throw malformed(`${record.key}.${field}: ${value} is not 0 or 1`);
  return value === 1;
}

/** "<key>=sector=<n> status=<s> ..." (the caller reads the other fields, then calls done()). */
function request(record: GuestRecord): BlkRequestResult {
  return { sector: record.number('sector'), status: record.number('status') };
}

/**
 * The bring-up lines virtio_driver.c prints as `<prefix>.<suffix>`: parses one into `into` and returns true, or
 * returns false when `key` is not one of them.
 */
function driverLine(prefix: string, key: string, value: string, into: Partial<VirtioDriverReport>, record: () => GuestRecord): boolean {
  if (!key.startsWith(`${prefix}.`)) return false;
  switch (key.slice(prefix.length + 1)) {
    case 'device_features':
      into.deviceFeatures = parseBigint(value, key);
      return true;
    case 'driver_features':
      into.driverFeatures = parseBigint(value, key);
      return true;
    case 'queue': {
      const r = record();
      into.queue = { index: r.number('index'), maxSize: r.number('max_size'), size: r.number('size'), notifyOff: r.number('notify_off'), msixVector: r.number('msix_vector') };
      r.done();
      return true;
    }
    case 'msix': {
      const r = record();
      into.msix = { entry: r.number('entry'), address: r.number('address'), data: r.number('data') };
      r.done();
      return true;
    }
    case 'status':
      into.status = parseNumber(value, key);
      return true;
    default:
      return false;
  }
}

/** The common part once every bring-up line was seen, or undefined. */
function completeDriver(driver: Partial<VirtioDriverReport>): VirtioDriverReport | undefined {
  const { bdf, deviceFeatures, driverFeatures, queue, msix, status } = driver;
  if (bdf === undefined || deviceFeatures === undefined || driverFeatures === undefined || !queue || !msix || status === undefined) return undefined;
  return { bdf, deviceFeatures, driverFeatures, queue, msix, status };
}

/** Parses one "virtio.blk.*" line (not the bring-up ones) into `blk`; false when `key` is not one. */
function blkLine(key: string, value: string, blk: Partial<VirtioBlkReport>, record: () => GuestRecord): boolean {
  switch (key) {
    case 'virtio.blk.device': {
      const r = record();
      blk.bdf = r.text('bdf');
      r.done();
      return true;
    }
    case 'virtio.blk.config': {
      const r = record();
      blk.config = { capacity: r.number('capacity'), blkSize: r.number('blk_size'), readOnly: flag(r, 'ro') };
      r.done();
      return true;
    }
    case 'virtio.blk.read': {
      const r = record();
      const result: VirtioBlkReport['firstBlock'] = { ...request(r), bytes: r.number('bytes') };
      const crc32 = r.optionalNumber('crc32');
      if (crc32 !== undefined) result.crc32 = crc32;
      r.done();
      blk.firstBlock = result;
      return true;
    }
    case 'virtio.blk.id': {
      const r = record();
      blk.id = { status: r.number('status'), serial: parseHexBytes(r.text('serial'), 'virtio.blk.id.serial') };
      r.done();
      return true;
    }
    case 'virtio.blk.write': {
      const r = record();
      blk.write = { ...request(r), bytes: r.number('bytes'), crc32: r.number('crc32') };
      r.done();
      return true;
    }
    case 'virtio.blk.flush':
      blk.flush = value === 'not_offered' ? value : parseNumber(value, key);
      return true;
    case 'virtio.blk.readback': {
      const r = record();
      blk.readback = { ...request(r), match: flag(r, 'match') };
      r.done();
      return true;
    }
    case 'virtio.blk.ro_write': {
      const r = record();
      blk.readOnlyWrite = { ...request(r), unchanged: flag(r, 'unchanged') };
      r.done();
      return true;
    }
    case 'virtio.blk.requests':
      blk.requests = parseNumber(value, key);
      return true;
    case 'virtio.blk.interrupts':
      blk.interrupts = parseNumber(value, key);
      return true;
    default:
      return false;
  }
}

/** The virtio-blk report once its required lines were seen, or undefined. */
function completeBlk(blk: Partial<VirtioBlkReport>): VirtioBlkReport | undefined {
  const driver = completeDriver(blk);
  const { config, firstBlock, id, requests, interrupts } = blk;
  if (!driver || !config || !firstBlock || !id || requests === undefined || interrupts === undefined) return undefined;
  const result: VirtioBlkReport = { ...driver, config, firstBlock, id, requests, interrupts };
  if (blk.write) result.write = blk.write;
  if (blk.flush !== undefined) result.flush = blk.flush;
  if (blk.readback) result.readback = blk.readback;
  if (blk.readOnlyWrite) result.readOnlyWrite = blk.readOnlyWrite;
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
  const blk: Partial<VirtioBlkReport> = {};
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
    if (driverLine('virtio', key, value, rng, record) || driverLine('virtio.blk', key, value, blk, record) || blkLine(key, value, blk, record)) continue;
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
      case 'virtio.rng.bytes':
        pendingBytes = parseNumber(value, key);
        break;
      case 'virtio.rng.data': {
        const bytes = parseHexBytes(value, key);
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
      case 'virtio.blk':
        report.blkResult = oneOf(value, ['ok', 'failed', 'absent'] as const, key);
        break;
      default:
        report.unrecognized.push(line);
    }
  }

  const rngDriver = completeDriver(rng);
  if (rngDriver && rng.interrupts !== undefined) report.rng = { ...rngDriver, rounds: rng.rounds, interrupts: rng.interrupts };
  const blkReport = completeBlk(blk);
  if (blkReport) report.blk = blkReport;
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
