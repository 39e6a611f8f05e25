#!/usr/bin/env node
// Builds the Linux guest artifacts used by the loader tests and the Linux boot tests into build/linux/, from
// Debian packages (downloaded with `apt-get download`, unpacked with `dpkg-deb -x`, never installed):
//   bzImage            the vmlinuz of the current linux-image-*-cloud-amd64
//   vmlinux            the PVH ELF kernel, decompressed from the bzImage's payload (checked for the Xen PVH note)
//   initramfs.cpio.gz  busybox-static + the virtio modules of the same kernel; /init prints READY_MARKER and runs a
//                      shell on the console
// Run as root on Debian 12 (it runs `apt-get update` if apt cannot find the packages, and installs the
// decompressor the kernel needs if it is missing). Idempotent: outputs newer than their inputs are kept.
// Usage: node scripts/linux-guest/build.mjs
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { newcArchive, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG } from './cpio.mjs';
import { GuestBuildError } from './guest-build-error.mjs';
import { extractVmlinux } from './vmlinux.mjs';

const SCRIPT_DIR = dirname(fileURLToPath(import.meta.url));
const OUTPUT_DIR = resolve(SCRIPT_DIR, '../../build/linux');
const DEB_CACHE_DIR = join(OUTPUT_DIR, 'debs');
const SCRIPT_FILES = [fileURLToPath(import.meta.url), join(SCRIPT_DIR, 'cpio.mjs'), join(SCRIPT_DIR, 'vmlinux.mjs'), join(SCRIPT_DIR, 'guest-build-error.mjs')];

const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
const BUSYBOX_PACKAGE = 'busybox-static';
/** Loaded in this order by /init, each after its dependencies. */
const GUEST_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_console', 'virtio_rng'];
/** Printed by /init once the modules are loaded; tests wait for it on the console. */
const READY_MARKER = 'NIMBUS-GUEST-READY';

function main() {
  mkdirSync(DEB_CACHE_DIR, { recursive: true });
  const kernelPackage = kernelPackageName();
  const release = kernelPackage.replace(/^linux-image-/, '');
  const kernelDeb = downloadPackage(kernelPackage);
  const busyboxDeb = downloadPackage(BUSYBOX_PACKAGE);

  const outputs = {
    bzImage: join(OUTPUT_DIR, 'bzImage'),
    vmlinux: join(OUTPUT_DIR, 'vmlinux'),
    initramfs: join(OUTPUT_DIR, 'initramfs.cpio.gz'),
  };
  const report = [];
  const workDir = mkdtempSync(join(tmpdir(), 'nimbus-linux-guest-'));
  try {
    const unpacked = new Map();
    const unpack = (deb) => {
      if (!unpacked.has(deb)) {
        const dir = join(workDir, basename(deb, '.deb'));
        run('dpkg-deb', ['-x', deb, dir]);
        unpacked.set(deb, dir);
      }
      return unpacked.get(deb);
    };

    if (upToDate(outputs.bzImage, [kernelDeb])) report.push(['bzImage', outputs.bzImage, 'up to date']);
    else {
      const vmlinuz = join(unpack(kernelDeb), 'boot', `vmlinuz-${release}`);
      if (!existsSync(vmlinuz)) fail(`${basename(kernelDeb)} has no boot/vmlinuz-${release}`);
      replaceFile(outputs.bzImage, readFileSync(vmlinuz));
      report.push(['bzImage', outputs.bzImage, `built from ${basename(kernelDeb)}`]);
    }

    if (upToDate(outputs.vmlinux, [outputs.bzImage])) report.push(['vmlinux', outputs.vmlinux, 'up to date']);
    else {
      const { vmlinux, compression, pvhEntry } = extractVmlinux(readFileSync(outputs.bzImage), ensureCommand);
      replaceFile(outputs.vmlinux, vmlinux);
      report.push(['vmlinux', outputs.vmlinux, `${compression} payload, PVH entry 0x${pvhEntry.toString(16)}`]);
    }

    if (upToDate(outputs.initramfs, [kernelDeb, busyboxDeb])) report.push(['initramfs', outputs.initramfs, 'up to date']);
    else {
      const modules = buildInitramfs(outputs.initramfs, unpack(kernelDeb), unpack(busyboxDeb), release);
      report.push(['initramfs', outputs.initramfs, `busybox + ${modules.length} modules (${modules.map((m) => basename(m, '.ko')).join(' ')})`]);
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }

  console.log(`Linux guest artifacts for kernel ${release} in ${OUTPUT_DIR}:`);
  for (const [name, path, note] of report) console.log(`  ${name.padEnd(10)} ${String(statSync(path).size).padStart(10)} bytes  ${note}`);
  console.log(`  the initramfs prints "${READY_MARKER}" on the console when it is ready`);
}

// ---- apt ----

/** The versioned kernel package the meta package depends on, e.g. linux-image-6.1.0-56-cloud-amd64. */
function kernelPackageName() {
  const meta = aptCandidate(KERNEL_META_PACKAGE);
  const name = (meta.Depends ?? '')
    .split(',')
    .map((dep) => dep.trim().split(/\s/)[0])
    .find((dep) => /^linux-image-\d.*-cloud-amd64$/.test(dep));
  if (!name) fail(`${KERNEL_META_PACKAGE} ${meta.Version} does not depend on a linux-image-*-cloud-amd64 package`);
  return name;
}

let aptListsUpdated = false;

/** Runs `apt-get update` once per run, when a look-up or download failed. */
function updateAptLists() {
  if (aptListsUpdated) return false;
  console.log('apt: updating package lists');
  run('apt-get', ['update']);
  aptListsUpdated = true;
  return true;
}

/** The candidate version's control fields (Package, Version, Architecture, Depends, ...). */
function aptCandidate(pkg) {
  for (;;) {
    const result = spawnSync('apt-cache', ['show', '--no-all-versions', pkg], { encoding: 'utf8' });
    const fields = result.status === 0 ? parseControl(result.stdout) : {};
    if (fields.Version) return fields;
    if (!updateAptLists()) fail(`apt cannot find package ${pkg}: ${(result.stderr ?? '').trim()}`);
  }
}

function parseControl(text) {
  const fields = {};
  for (const line of text.split('\n')) {
    if (line === '') break; // first stanza only
    const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (match) fields[match[1]] = match[2];
  }
  return fields;
}

/** Downloads the candidate .deb of `pkg` into the cache unless it is already there; returns its path. */
function downloadPackage(pkg) {
  const info = aptCandidate(pkg);
  const file = join(DEB_CACHE_DIR, `${info.Package}_${info.Version.replaceAll(':', '%3a')}_${info.Architecture}.deb`);
  if (existsSync(file)) return file;
  for (const old of readdirSync(DEB_CACHE_DIR).filter((f) => f.startsWith(`${info.Package}_`))) rmSync(join(DEB_CACHE_DIR, old));
  console.log(`apt: downloading ${info.Package} ${info.Version}`);
  const args = ['-o', 'APT::Sandbox::User=root', 'download', `${info.Package}=${info.Version}`];
  let result = spawnSync('apt-get', args, { cwd: DEB_CACHE_DIR, encoding: 'utf8' });
  if (result.status !== 0 && updateAptLists()) result = spawnSync('apt-get', args, { cwd: DEB_CACHE_DIR, encoding: 'utf8' });
  if (result.status !== 0 || !existsSync(file)) fail(`apt-get download ${info.Package}=${info.Version} failed: ${(result.stderr ?? '').trim()}`);
  // apt keeps the server's modification time; mark the download as new so outputs built from an older package are rebuilt.
  const now = new Date();
  utimesSync(file, now, now);
  return file;
}

/** Installs the Debian package providing `command` if it is not on PATH. */
function ensureCommand(command, aptPackage) {
  if (onPath(command)) return;
  console.log(`apt: installing ${aptPackage} for ${command}`);
  let result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', aptPackage], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0 && updateAptLists()) {
    result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', aptPackage], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (result.status !== 0 || !onPath(command)) fail(`could not install ${aptPackage} (needed for ${command}): ${(result.stderr ?? '').trim()}`);
}

function onPath(command) {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

// ---- initramfs ----

/** Writes the initramfs; returns the module paths (relative to lib/modules/<release>) in load order. */
function buildInitramfs(output, kernelRoot, busyboxRoot, release) {
  const busybox = join(busyboxRoot, 'bin', 'busybox');
  if (!existsSync(busybox)) fail(`${BUSYBOX_PACKAGE} has no bin/busybox`);
  const moduleDir = join(kernelRoot, 'lib', 'modules', release);
  // The kernel package ships no modules.dep (its postinst runs depmod); busybox's depmod builds it from the modules.
  run(busybox, ['depmod', '-b', kernelRoot, release]);
  const dependencies = parseModulesDep(readFileSync(join(moduleDir, 'modules.dep'), 'utf8'));
  const builtin = new Set(
    readFileSync(join(moduleDir, 'modules.builtin'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(moduleName),
  );
  const byName = new Map([...dependencies.keys()].map((path) => [moduleName(path), path]));
  const loadOrder = [];
  const visit = (path) => {
    if (loadOrder.includes(path)) return;
    for (const dep of dependencies.get(path) ?? []) visit(dep);
    loadOrder.push(path);
  };
  for (const name of GUEST_MODULES) {
    const path = byName.get(name);
    if (path) visit(path);
    else if (!builtin.has(name)) fail(`kernel ${release} has no module ${name} (neither in modules.dep nor built in)`);
  }
  const compressed = loadOrder.find((path) => !path.endsWith('.ko'));
  if (compressed) fail(`module ${compressed} is compressed; busybox insmod needs plain .ko files`);

  const entries = [];
  const directories = new Set();
  const addDirectory = (path) => {
    if (path === '.' || directories.has(path)) return;
    addDirectory(dirname(path));
    directories.add(path);
    entries.push({ path, mode: S_IFDIR | 0o755 });
  };
  for (const dir of ['bin', 'dev', 'etc', 'proc', 'root', 'sys', 'tmp', `lib/modules/${release}`]) addDirectory(dir);
  entries.push({ path: 'bin/busybox', mode: S_IFREG | 0o755, data: readFileSync(busybox) });
  entries.push({ path: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') });
  entries.push({ path: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 });
  entries.push({ path: 'dev/null', mode: S_IFCHR | 0o666, rdevMajor: 1, rdevMinor: 3 });
  entries.push({ path: 'init', mode: S_IFREG | 0o755, data: Buffer.from(initScript(release, loadOrder)) });
  const trimmedDep = loadOrder.map((path) => `${path}: ${(dependencies.get(path) ?? []).join(' ')}`.trimEnd()).join('\n') + '\n';
  entries.push({ path: `lib/modules/${release}/modules.dep`, mode: S_IFREG | 0o644, data: Buffer.from(trimmedDep) });
  for (const path of loadOrder) {
    addDirectory(dirname(`lib/modules/${release}/${path}`));
    entries.push({ path: `lib/modules/${release}/${path}`, mode: S_IFREG | 0o644, data: readFileSync(join(moduleDir, path)) });
  }
  replaceFile(output, gzipSync(newcArchive(entries), { level: 9 }));
  return loadOrder;
}

/** modules.dep: "kernel/a.ko: kernel/b.ko kernel/c.ko" -> Map(path -> dependency paths). */
function parseModulesDep(text) {
  const dependencies = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    dependencies.set(line.slice(0, colon), line.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
  }
  return dependencies;
}

/** "kernel/drivers/char/hw_random/virtio-rng.ko" -> "virtio_rng" (module names treat - and _ alike). */
function moduleName(path) {
  return basename(path).replace(/\.ko(\.\w+)?$/, '').replaceAll('-', '_');
}

function initScript(release, modules) {
  return `#!/bin/sh
# /init of the Nimbus test initramfs, generated by scripts/linux-guest/build.mjs.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in ${modules.join(' ')}; do
  insmod "/lib/modules/${release}/$module" || echo "nimbus-guest: could not load $module"
done
echo "${READY_MARKER} kernel=$(uname -r)"
setsid cttyhack sh
echo "nimbus-guest: shell exited, powering off"
poweroff -f
`;
}

// ---- helpers ----

/** True if `output` exists and is newer than every input and than this script. */
function upToDate(output, inputs) {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return [...inputs, ...SCRIPT_FILES].every((input) => statSync(input).mtimeMs < built);
}

/** Writes through a temporary file and a rename, so an interrupted run never leaves a half-written output. */
function replaceFile(path, data) {
  const temporary = `${path}.partial`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

function run(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) fail(`cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed (exit ${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

function fail(message) {
  throw new GuestBuildError(message);
}

// Last, so that every module-level binding above is initialised.
try {
  main();
} catch (error) {
  if (!(error instanceof GuestBuildError)) throw error;
  console.error(`linux-guest: ${error.message}`);
  process.exitCode = 1;
}
