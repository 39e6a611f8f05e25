/**
 * Checks the generated tables with ACPICA's own tools (Debian package acpica-tools): every SDT is disassembled
 * with `iasl -d` and any error, warning or remark fails the test; the disassembly is then checked for the objects
 * and fields each configuration must produce. `acpiexec` loads the whole set (as an OS would, FADT first) and
 * evaluates _S5_ and the _CRS objects, and runs the GED's _EVT over its emulated notification register (filled
 * with a chosen value by `-fv`, each access logged by `-vr`) to see which bits make it Notify the power button.
 * iasl 20200925 cannot disassemble a bare RSDP; index.test.ts checks it.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAcpiTables, type AcpiConfig, type AcpiTableSet, type PciSegmentConfig } from './index.ts';

const MiB = 2 ** 20;
/** Words ACPICA's tools print when something is wrong with a table. */
const PROBLEM = /warning|error|incorrect|invalid|unknown|too long|remark|fail|\*\*\*\*/i;
const workDirs: string[] = [];

after(() => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

function segment(id: number): PciSegmentConfig {
  return {
    id,
    ecam: { base: 0xe800_0000 + id * MiB, size: MiB },
    mmio32: { base: 0xc000_0000 + id * 128 * MiB, size: 128 * MiB },
    mmio64: { base: 2 ** 40 + id * 2 ** 36, size: 2 ** 36 },
  };
}

/** Runs an ACPICA tool without a shell; returns its combined stdout and stderr. */
function runTool(tool: string, args: readonly string[], cwd: string): string {
  const logPath = join(cwd, `${tool}.log`);
  const fd = openSync(logPath, 'w');
  try {
    execFileSync(tool, args, { cwd, stdio: ['ignore', fd, fd], timeout: 60_000 });
  } catch (error) {
    const hint = (error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (install it: apt-get install -y acpica-tools)' : '';
    throw new Error(`${tool} ${args.join(' ')} failed${hint}:\n${readFileSync(logPath, 'utf8')}`, { cause: error });
  } finally {
    closeSync(fd);
  }
  return readFileSync(logPath, 'utf8');
}

function assertNoProblems(text: string, what: string): void {
  const problems = text.split('\n').filter((line) => PROBLEM.test(line));
  assert.equal(problems.length, 0, `${what} reports problems:\n${problems.join('\n')}`);
}

/** Writes each SDT as <signature>.dat in a fresh directory. */
function writeTables(set: AcpiTableSet): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-acpi-'));
  workDirs.push(dir);
  for (const table of set.tables.slice(1)) writeFileSync(join(dir, `${table.signature.toLowerCase()}.dat`), table.bytes);
  return dir;
}

/** `iasl -d <signature>.dat`; fails on any problem in iasl's output or the disassembly, returns the .dsl text. */
function disassemble(dir: string, signature: string): string {
  const name = signature.toLowerCase();
  const log = runTool('iasl', ['-d', `${name}.dat`], dir);
  assertNoProblems(log, `iasl -d ${name}.dat`);
  const dsl = readFileSync(join(dir, `${name}.dsl`), 'utf8');
  assertNoProblems(dsl, `${name}.dsl`);
  return dsl;
}

const hex = (value: number, digits: number): string => value.toString(16).toUpperCase().padStart(digits, '0');
const count = (text: string, pattern: RegExp): number => [...text.matchAll(pattern)].length;

function checkDsdt(dsl: string, config: AcpiConfig): void {
  assert.match(dsl, /DefinitionBlock \("", "DSDT", 6, "NIMBUS", "NBDSDT  ", 0x00000001\)/);
  assert.match(dsl, /Name \(_S5, Package \(0x04\)[^{]*\{\s*0x05,\s*0x05,\s*Zero,\s*Zero\s*\}\)/);
  assert.match(dsl, /Scope \(\\_SB\)/);
  assert.equal(dsl.includes('Device (COM1)'), config.serial, 'COM1 present exactly when the serial port is');
  if (config.serial) {
    assert.match(dsl, /EisaId \("PNP0501"\)/);
    assert.match(dsl, /IO \(Decode16,\s*0x03F8,\s*\/\/ Range Minimum\s*0x03F8,\s*\/\/ Range Maximum\s*0x01,\s*\/\/ Alignment\s*0x08,/);
    assert.match(dsl, /IRQNoFlags \(\)\s*\{4\}/);
  }
  assert.match(dsl, /Device \(PCI0\)\s*\{\s*Name \(_HID, EisaId \("PNP0A08"\)[^\n]*\n\s*Name \(_CID, EisaId \("PNP0A03"\)/);
  assert.match(dsl, /Name \(_SEG, Zero\)/);
  assert.match(dsl, /Name \(_BBN, Zero\)/);
  assert.match(dsl, /IO \(Decode16,\s*0x0CF8,\s*\/\/ Range Minimum\s*0x0CF8,/);
  assert.match(dsl, /WordIO \([^)]*EntireRange,\s*0x0000,\s*\/\/ Granularity\s*0x0000,\s*\/\/ Range Minimum\s*0x0CF7,/);
  assert.match(dsl, /WordIO \([^)]*EntireRange,\s*0x0000,\s*\/\/ Granularity\s*0x0D00,\s*\/\/ Range Minimum\s*0xFFFF,/);
  assert.equal(count(dsl, /WordBusNumber \(ResourceProducer, MinFixed, MaxFixed, PosDecode,/g), config.pciSegments.length);
  for (const seg of config.pciSegments) {
    const min32 = `0x${hex(seg.mmio32.base, 8)},\\s*// Range Minimum\\s*0x${hex(seg.mmio32.base + seg.mmio32.size - 1, 8)},`;
    assert.match(dsl, new RegExp(`DWordMemory \\(ResourceProducer[^\\n]*\\n\\s*0x00000000,\\s*// Granularity\\s*${min32}`));
    const min64 = `0x${hex(seg.mmio64.base, 16)}, // Range Minimum\\s*0x${hex(seg.mmio64.base + seg.mmio64.size - 1, 16)}, // Range Maximum`;
    assert.match(dsl, new RegExp(`QWordMemory \\(ResourceProducer[^\\n]*\\n\\s*0x0000000000000000, // Granularity\\s*${min64}`));
    assert.match(dsl, new RegExp(`Memory32Fixed \\(ReadWrite,\\s*0x${hex(seg.ecam.base, 8)},\\s*// Address Base\\s*0x00100000,`));
    if (seg.id !== 0) assert.match(dsl, new RegExp(`Device \\(PC${hex(seg.id, 2)}\\)`));
  }
  assert.match(dsl, /Device \(MBRD\)\s*\{\s*Name \(_HID, EisaId \("PNP0C02"\)/);
  assert.match(dsl, /Device \(PWRB\)\s*\{\s*Name \(_HID, EisaId \("PNP0C0C"\)/);
  checkGedDsl(dsl);
}

/** The Generic Event Controller's register and scan method, and the GED's interrupt and _EVT, as iasl reads them back. */
function checkGedDsl(dsl: string): void {
  const gec = /Device \(GEC\)\s*\{([\s\S]*?)\n {8}\}/.exec(dsl)?.[1] ?? '';
  assert.match(gec, /Name \(_HID, EisaId \("PNP0A06"\)/);
  assert.match(gec, /Name \(_UID, "Generic Event Controller"\)/);
  assert.match(gec, /Memory32Fixed \(ReadWrite,\s*0xFEA00000,\s*\/\/ Address Base\s*0x00000001,/);
  assert.match(gec, /OperationRegion \(GDST, SystemMemory, 0xFEA00000, One\)/);
  assert.match(gec, /Field \(GDST, ByteAcc, NoLock, WriteAsZeros\)\s*\{\s*GDAT,\s*8\s*\}/);
  assert.match(
    gec,
    /Method \(ESCN, 0, Serialized\)\s*\{\s*Local0 = GDAT [^\n]*\n\s*Local1 = \(Local0 & 0x08\)\s*If \(\(Local1 == 0x08\)\)\s*\{\s*Notify \(\\_SB\.PWRB, 0x80\)/,
  );
  assert.equal(count(gec, /= GDAT\b/g), 1, 'ESCN reads the read-to-clear register once');
  const ged = /Device \(GED\)\s*\{([\s\S]*?)\n {8}\}/.exec(dsl)?.[1] ?? '';
  assert.match(ged, /Name \(_HID, "ACPI0013" \/\* Generic Event Device \*\/\)/);
  assert.match(ged, /Interrupt \(ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, \)\s*\{\s*0x00000005,\s*\}/);
  assert.match(ged, /Method \(_EVT, 1, Serialized\)[^{]*\{\s*\\_SB\.GEC\.ESCN \(\)\s*\}/);
}

/** The "Field : Value" pairs of each blank-line-separated block (one per subtable) of an iasl data-table listing. */
function dataTableBlocks(dsl: string): Map<string, string>[] {
  return dsl.split(/\n\s*\n/).map((block) => {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const match = /^(?:\[[^\]]*\])?\s*(.+?) : (.*)$/.exec(line);
      if (match) fields.set(match[1]!, match[2]!.trim());
    }
    return fields;
  });
}

function subtables(dsl: string, type: string): Map<string, string>[] {
  return dataTableBlocks(dsl).filter((fields) => fields.get('Subtable Type') === type);
}

function checkMadt(dsl: string, config: AcpiConfig): void {
  assert.match(dsl, /Revision : 05/);
  assert.match(dsl, /Local Apic Address : FEE00000/);
  const x2apics = subtables(dsl, '09 [Processor Local x2APIC]').map((fields) => ({
    apicId: Number.parseInt(fields.get('Processor x2Apic ID')!, 16),
    flags: fields.get('Flags (decoded below)'),
    enabled: fields.get('Processor Enabled'),
    uid: Number.parseInt(fields.get('Processor UID')!, 16),
  }));
  const apicIds = config.apicIds ?? Array.from({ length: config.maxCpus }, (_, i) => i);
  assert.deepEqual(
    x2apics,
    apicIds.map((apicId, uid) => {
      const boot = uid < config.bootCpus;
      return { apicId, flags: boot ? '00000001' : '00000002', enabled: boot ? '1' : '0', uid };
    }),
  );
  const [ioApic] = subtables(dsl, '01 [I/O APIC]');
  assert.deepEqual([ioApic?.get('I/O Apic ID'), ioApic?.get('Address'), ioApic?.get('Interrupt')], ['00', 'FEC00000', '00000000']);
  const [override] = subtables(dsl, '02 [Interrupt Source Override]');
  assert.deepEqual(
    ['Bus', 'Source', 'Interrupt', 'Flags (decoded below)', 'Polarity', 'Trigger Mode'].map((key) => override?.get(key)),
    ['00', '00', '00000002', '0005', '1', '1'],
  );
  const [nmi] = subtables(dsl, '0A [Local x2APIC NMI]');
  assert.deepEqual([nmi?.get('Processor UID'), nmi?.get('Interrupt Input LINT')], ['FFFFFFFF', '01']);
  assert.equal(subtables(dsl, '09 [Processor Local x2APIC]').length + 3, dataTableBlocks(dsl).filter((b) => b.has('Subtable Type')).length);
}

function checkFadt(dsl: string, dsdtAddress: number): void {
  assert.match(dsl, /Revision : 06/);
  assert.match(dsl, /Table Length : 00000114/);
  assert.match(dsl, /Hardware Reduced \(V5\) : 1/);
  assert.match(dsl, /Reset Register Supported \(V2\) : 1/);
  assert.match(dsl, /32-bit PM Timer \(V1\) : 1/);
  assert.match(dsl, /FADT Minor Revision : 03/);
  assert.match(dsl, new RegExp(`DSDT Address : ${hex(dsdtAddress, 16)}`));
  const ioRegister = (title: string, width: string, access: string, port: string): RegExp => {
    const lines = [
      `${title} : \\[Generic Address Structure\\]`,
      'Space ID : 01 \\[SystemIO\\]',
      `Bit Width : ${width}`,
      'Bit Offset : 00',
      `Encoded Access Width : ${access} [^\\n]*`,
      `Address : ${port}`,
    ];
    return new RegExp(lines.join('\\n.*'));
  };
  assert.match(dsl, ioRegister('Reset Register', '08', '01', '0000000000000600'));
  assert.match(dsl, /Value to cause reset : 01/);
  assert.match(dsl, ioRegister('Sleep Control Register', '08', '01', '0000000000000600'));
  assert.match(dsl, ioRegister('Sleep Status Register', '08', '01', '0000000000000600'));
  assert.match(dsl, ioRegister('PM Timer Block', '20', '03', '0000000000000608'));
  // iasl prints the 8 ASCII bytes "NIMBUSVM" as a little-endian 64-bit number.
  assert.match(dsl, /Hypervisor ID : 4D565355424D494E/);
}

function checkMcfg(dsl: string, config: AcpiConfig): void {
  const entries = dataTableBlocks(dsl)
    .filter((fields) => fields.has('Base Address'))
    .map((fields) => ['Base Address', 'Segment Group Number', 'Start Bus Number', 'End Bus Number'].map((key) => fields.get(key)));
  assert.deepEqual(
    entries,
    [...config.pciSegments].sort((a, b) => a.id - b.id).map((seg) => [hex(seg.ecam.base, 16), hex(seg.id, 4), '00', '00']),
  );
}

function checkXsdt(dsl: string, set: AcpiTableSet): void {
  const addresses = [...dsl.matchAll(/ACPI Table Address\s+\d+ : ([0-9A-F]{16})/g)].map((m) => Number.parseInt(m[1]!, 16));
  const expected = ['FACP', 'APIC', 'MCFG'].map((signature) => set.tables.find((t) => t.signature === signature)!.address);
  assert.deepEqual(addresses, expected);
}

/** Loads the tables into acpiexec's namespace and evaluates _S5_ and every device's _CRS. */
function checkWithAcpiexec(dir: string, serial: boolean): void {
  const resources = ['PCI0', 'MBRD', 'GEC', 'GED', ...(serial ? ['COM1'] : [])].map((device) => `\\_SB.${device}._CRS`);
  const objects = ['\\_S5_', ...resources];
  const commands = objects.map((object) => `evaluate ${object}`).join('; ');
  const log = runTool('acpiexec', ['-b', commands, 'dsdt.dat', 'facp.dat', 'apic.dat', 'mcfg.dat'], dir);
  assertNoProblems(log, 'acpiexec');
  assert.match(log, /FACP 0x[0-9A-F]+ 000114 \(v06 NIMBUS NBFACP/);
  const s5Values = [...log.matchAll(/\[Integer\] = ([0-9A-F]{16})/g)].slice(0, 4).map((m) => Number.parseInt(m[1]!, 16));
  assert.match(log, /Evaluating \\_S5_\n.*\n\s*\[Package\] Contains 4 Elements:/);
  assert.deepEqual(s5Values, [5, 5, 0, 0]);
  assert.equal(count(log, /returned object/g), objects.length);
}

/** What acpiexec saw while running the GED's _EVT with the notification register holding `register`. */
function runGedEvent(dir: string, register: number): { reads: string[]; powerButtonNotifies: number } {
  // _CRS evaluations after _EVT give acpiexec's Notify thread time to print (it sleeps 10 ms after each command).
  const commands = 'evaluate \\_SB.GED._EVT 5; evaluate \\_SB.GED._CRS; evaluate \\_SB.GEC._CRS';
  const log = runTool('acpiexec', ['-fv', String(register), '-vr', '-b', commands, 'dsdt.dat', 'facp.dat', 'apic.dat', 'mcfg.dat'], dir);
  assertNoProblems(log, 'acpiexec');
  assert.match(log, /Evaluating \\_SB\.GED\._EVT\n/);
  return {
    reads: [...log.matchAll(/SystemMemory (Read|Write) : Val ([0-9A-F]+) Addr ([0-9A-F]+) BitWidth (\d+)/g)].map((match) =>
      match.slice(1).join(' '),
    ),
    powerButtonNotifies: count(log, /Received a Device Notify on \[PWRB\] 0x[0-9a-f]+ Value 0x80/g),
  };
}

const scenarios: { title: string; config: AcpiConfig }[] = [
  { title: '1 vCPU with serial', config: { bootCpus: 1, maxCpus: 1, serial: true, pciSegments: [segment(0)] } },
  { title: '2 vCPUs without serial', config: { bootCpus: 2, maxCpus: 2, serial: false, pciSegments: [segment(0)] } },
  { title: '4 vCPUs with serial', config: { bootCpus: 4, maxCpus: 4, serial: true, pciSegments: [segment(0)] } },
  {
    title: '2 of 8 vCPUs online, sparse APIC ids, 2 PCI segments, no serial',
    config: { bootCpus: 2, maxCpus: 8, apicIds: [0, 2, 4, 6, 8, 10, 12, 14], serial: false, pciSegments: [segment(0), segment(1)] },
  },
];

describe('ACPI tables checked by iasl and acpiexec', () => {
  for (const { title, config } of scenarios) {
    it(title, () => {
      const set = createAcpiTables(config);
      const dir = writeTables(set);
      const dsdtAddress = set.tables.find((t) => t.signature === 'DSDT')!.address;
      checkDsdt(disassemble(dir, 'DSDT'), config);
      checkFadt(disassemble(dir, 'FACP'), dsdtAddress);
      checkMadt(disassemble(dir, 'APIC'), config);
      checkMcfg(disassemble(dir, 'MCFG'), config);
      checkXsdt(disassemble(dir, 'XSDT'), set);
      checkWithAcpiexec(dir, config.serial);
    });
  }

  it("runs the GED's _EVT: one byte read of the register, Notify(PWRB, 0x80) only when bit 0x8 is set", () => {
    const dir = writeTables(createAcpiTables(scenarios[0]!.config));
    assert.deepEqual(runGedEvent(dir, 0x08), { reads: ['Read 00000008 FEA00000 8'], powerButtonNotifies: 1 });
    assert.deepEqual(runGedEvent(dir, 0xff), { reads: ['Read 000000FF FEA00000 8'], powerButtonNotifies: 1 });
    assert.deepEqual(runGedEvent(dir, 0x07), { reads: ['Read 00000007 FEA00000 8'], powerButtonNotifies: 0 });
    assert.deepEqual(runGedEvent(dir, 0x00), { reads: ['Read 00000000 FEA00000 8'], powerButtonNotifies: 0 });
  });

  it('notices a corrupted table (the problem detector can fail)', () => {
    const set = createAcpiTables(scenarios[0]!.config);
    const dir = writeTables(set);
    const madt = set.tables.find((t) => t.signature === 'APIC')!.bytes.slice();
    madt[9] = (madt[9]! + 1) & 0xff;
    writeFileSync(join(dir, 'apic.dat'), madt);
    assert.throws(() => disassemble(dir, 'APIC'), /apic\.(?:dat|dsl) reports problems:[\s\S]*Incorrect checksum/);
  });
});
