/**
 * Builds the freestanding test guests (C + asm under test/guests/src/) with gcc and caches each ELF under
 * build/guests/, rebuilding only when a source file or the flags change. Every build is disassembled per code
 * section in its own mode (16-, 32- and 64-bit) and rejected if it contains an instruction that PVM's CPL0 emulator
 * cannot execute (see /work/shared/design/pvm-test-guests.md, "Compiler and instruction rules").
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NimbusError } from '../../src/errors/nimbus-error.ts';

/** Failures building or checking a test guest. */
export class GuestBuildError extends NimbusError {}

export const GUEST_NAMES = ['report', 'smp', 'lifecycle', 'virtio'] as const;
export type GuestName = (typeof GUEST_NAMES)[number];

const execFileAsync = promisify(execFile);
const TOOL_OUTPUT_LIMIT = 64 * 1024 * 1024;

/** Flags from pvm-test-guests.md, plus warnings as errors and no zero-initialised data in .bss (the guests do
 * not rely on the loader clearing memory beyond the file image). */
const COMPILE_FLAGS = [
  '-O2',
  '-std=gnu11',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-ffreestanding',
  '-nostdlib',
  '-mno-sse',
  '-mno-mmx',
  '-mno-red-zone',
  '-mgeneral-regs-only',
  '-fno-pic',
  '-fno-pie',
  '-fno-stack-protector',
  '-fcf-protection=none',
  '-fno-zero-initialized-in-bss',
  '-fno-asynchronous-unwind-tables',
] as const;
const LINK_FLAGS = ['-static', '-no-pie', '-Wl,--build-id=none', '-Wl,-z,max-page-size=4096'] as const;

/** Code sections of the guest images and the mode objdump must decode each in (guest.ld). */
const CODE_SECTION_MODES: Readonly<Record<string, readonly string[]>> = {
  '.text': [],
  '.text32': ['-M', 'i386'],
  '.text16': ['-M', 'i8086'],
};

/** Mnemonics that end a PVM guest at CPL0 (emulation failure or #UD), or that do not work there as expected
 * (`int n` raises #UD, syscall stays at hardware CPL3). fxsave/fxrstor are the only allowed f* mnemonics. */
const FORBIDDEN_MNEMONIC = new RegExp(
  `^(${[
    'popcnt', 'cmpxchg16b', 'rdtscp', 'rdpid', 'int', 'int1', 'int3', 'into',
    'syscall', 'sysret', 'sysenter', 'sysexit', 'crc32[bwlq]?', 'movbe', 'lsl', 'lar',
    'xsave\\w*', 'xrstor\\w*', 'xgetbv', 'adcx', 'adox',
    'andn', 'bextr', 'blsi', 'blsmsk', 'blsr', 'bzhi', 'pdep', 'pext', 'rorx', 'sarx', 'shlx', 'shrx',
    'f(?!xsave|xrstor)\\w+',
  ].join('|')})$`,
);
/** SSE/AVX/MMX/x87 registers as operands. */
const FORBIDDEN_OPERAND = /%(?:[xyz]mm\d+|mm\d|st\b)/;
const PREFIXES = new Set([
  'lock', 'rep', 'repz', 'repe', 'repnz', 'repne', 'data16', 'data32', 'addr16', 'addr32',
  'cs', 'ds', 'es', 'fs', 'gs', 'ss', 'notrack', 'bnd',
]);

export interface ForbiddenInstruction {
  section: string;
  address: number;
  instruction: string;
}

/**
 * Scans `objdump -d --no-show-raw-insn` output (one section) for forbidden instructions. Symbol annotations
 * (`<name>`) and comments are ignored, so a function called user_crc32 is not mistaken for the crc32 instruction.
 */
export function findForbiddenInstructions(section: string, disassembly: string): ForbiddenInstruction[] {
  const found: ForbiddenInstruction[] = [];
  for (const line of disassembly.split('\n')) {
    const match = /^\s*([0-9a-f]+):\t(.+)$/.exec(line);
    if (!match) continue;
    const instruction = (match[2] ?? '').replace(/<[^>]*>/g, '').replace(/#.*$/, '').trim();
    const tokens = instruction.split(/\s+/);
    let index = 0;
    const isPrefix = (token: string): boolean => PREFIXES.has(token) || token.startsWith('rex');
    while (index < tokens.length - 1 && isPrefix(tokens[index] ?? '')) index++;
    const mnemonic = tokens[index] ?? '';
    const operands = tokens.slice(index + 1).join(' ');
    if (FORBIDDEN_MNEMONIC.test(mnemonic) || FORBIDDEN_OPERAND.test(operands)) {
      found.push({ section, address: Number.parseInt(match[1] ?? '', 16), instruction });
    }
  }
  return found;
}

/** Names of the sections objdump flags CODE, from `objdump -h` output. */
export function codeSections(headers: string): string[] {
  const sections: string[] = [];
  const lines = headers.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^\s*\d+\s+(\S+)\s+[0-9a-f]+\s/.exec(lines[i] ?? '');
    if (match && /\bCODE\b/.test(lines[i + 1] ?? '')) sections.push(match[1] ?? '');
  }
  return sections;
}

interface GuestSources {
  root: string;
  sourceDir: string;
}

/** The guest sources live beside this file when it runs from the source tree; a compiled copy elsewhere finds
 * them through NIMBUS_ROOT or the current directory (the repository root when tests run). */
function locateSources(): GuestSources {
  const candidates = [
    join(dirname(fileURLToPath(import.meta.url)), 'src'),
    ...(process.env['NIMBUS_ROOT'] ? [join(process.env['NIMBUS_ROOT'], 'test/guests/src')] : []),
    join(process.cwd(), 'test/guests/src'),
  ];
  for (const sourceDir of candidates) {
    if (existsSync(join(sourceDir, 'common/guest.ld'))) return { root: resolve(sourceDir, '../../..'), sourceDir };
  }
  throw new GuestBuildError(
    'GUEST_SOURCES_NOT_FOUND',
    `test guest sources not found (looked in ${candidates.join(', ')}); run from the repository root or set NIMBUS_ROOT`,
  );
}

async function listFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names.filter((n) => /\.(c|S|h|ld)$/.test(n)).sort().map((n) => join(dir, n));
}

async function run(tool: string, args: readonly string[], what: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(tool, args, { maxBuffer: TOOL_OUTPUT_LIMIT });
    return stdout;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') {
      const message = `${tool} not found; install gcc and binutils (apt-get install -y gcc binutils)`;
      throw new GuestBuildError('GUEST_TOOL_MISSING', message, { cause: error });
    }
    const message = `${what} failed:\n${failure.stderr ?? failure.message}`;
    throw new GuestBuildError('GUEST_BUILD_FAILED', message, { cause: error });
  }
}

/** Disassembles every code section and throws GUEST_FORBIDDEN_INSTRUCTION if one holds a forbidden instruction. */
export async function checkGuestInstructions(elfPath: string): Promise<void> {
  const sections = codeSections(await run('objdump', ['-h', elfPath], `objdump -h ${elfPath}`));
  const found: ForbiddenInstruction[] = [];
  for (const section of sections) {
    const mode = CODE_SECTION_MODES[section];
    if (!mode) {
      const message = `${elfPath}: code section ${section} has no known mode; add it to CODE_SECTION_MODES`;
      throw new GuestBuildError('GUEST_UNKNOWN_CODE_SECTION', message);
    }
    const args = ['-d', '-w', '--no-show-raw-insn', ...mode, '-j', section, elfPath];
    const disassembly = await run('objdump', args, `objdump -d ${elfPath}`);
    found.push(...findForbiddenInstructions(section, disassembly));
  }
  if (found.length > 0) {
    const list = found.map((f) => `  ${f.section} 0x${f.address.toString(16)}: ${f.instruction}`).join('\n');
    throw new GuestBuildError(
      'GUEST_FORBIDDEN_INSTRUCTION',
      `${elfPath} contains instructions PVM's CPL0 emulator cannot run (see pvm-test-guests.md); ` +
        `rewrite the code or adjust the flags:\n${list}`,
    );
  }
}

async function build(name: GuestName): Promise<string> {
  const { root, sourceDir } = locateSources();
  const commonDir = join(sourceDir, 'common');
  const files = [...(await listFiles(commonDir)), ...(await listFiles(join(sourceDir, name)))];
  const hash = createHash('sha256');
  hash.update(JSON.stringify([name, COMPILE_FLAGS, LINK_FLAGS]));
  for (const file of files) {
    hash.update(file.slice(sourceDir.length));
    hash.update(await readFile(file));
  }
  const digest = hash.digest('hex');

  const outDir = join(root, 'build/guests');
  const elfPath = join(outDir, `${name}.elf`);
  const stampPath = `${elfPath}.sha256`;
  const stamp = await readFile(stampPath, 'utf8').catch(() => '');
  if (stamp === digest && existsSync(elfPath)) return elfPath;

  await mkdir(outDir, { recursive: true });
  const workDir = await mkdtemp(join(outDir, `.${name}-`));
  try {
    const tmpElf = join(workDir, `${name}.elf`);
    const inputs = files.filter((f) => /\.(c|S)$/.test(f));
    await run(
      'gcc',
      [...COMPILE_FLAGS, `-I${commonDir}`, ...LINK_FLAGS, '-T', join(commonDir, 'guest.ld'), '-o', tmpElf, ...inputs],
      `gcc (building test guest ${name})`,
    );
    await checkGuestInstructions(tmpElf);
    await rename(tmpElf, elfPath);
    const tmpStamp = join(workDir, 'stamp');
    await writeFile(tmpStamp, digest);
    await rename(tmpStamp, stampPath);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return elfPath;
}

/** Builds test guest `name` if its sources or flags changed and returns the path of its ELF
 * (build/guests/<name>.elf). Concurrent builds are safe: each works in its own directory and renames into place. */
export async function buildGuest(name: GuestName): Promise<string> {
  if (!(GUEST_NAMES as readonly string[]).includes(name)) {
    const message = `unknown test guest "${String(name)}"; known: ${GUEST_NAMES.join(', ')}`;
    throw new GuestBuildError('GUEST_UNKNOWN', message);
  }
  return build(name);
}
