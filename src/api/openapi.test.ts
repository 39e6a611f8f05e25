/**
 * The contract as data: the routes table against the OpenAPI paths, the strict schemas built from the YAML, the
 * compiled validators and their cache, and the serde defaults of from-json.ts against the YAML's `default`s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../host/package-root.ts';
import {
  diskConfigFromJson,
  fsConfigFromJson,
  netConfigFromJson,
  pmemConfigFromJson,
  restoreConfigFromJson,
  vdpaConfigFromJson,
  vmConfigFromJson,
  vsockConfigFromJson,
} from '../vmm/config/from-json.ts';
import { buildApiSchemas } from './openapi-schema.ts';
import { receiveMigrationFromJson, sendMigrationFromJson } from './request-bodies.ts';
import { API_ROOT, ROUTES } from './routes.ts';
import { BODY_SCHEMAS, describeViolation } from './body-schemas.ts';
import { loadApiValidators, openApiYamlPath } from './validators.ts';

type Schema = { [key: string]: unknown };
const openApi = parse(readFileSync(openApiYamlPath(), 'utf8')) as {
  paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: { $ref: string } } } }; responses: Record<string, { content?: { 'application/json': { schema: { $ref: string } } } }> }>>;
  components: { schemas: Record<string, Schema> };
};
const strict = buildApiSchemas(openApi).components.schemas;

const refName = (ref: string): string => ref.slice(ref.lastIndexOf('/') + 1);

test('every OpenAPI path is routed with its method, request schema and responses', () => {
  const paths = Object.entries(openApi.paths);
  assert.equal(paths.length, 31);
  assert.deepEqual(Object.keys(ROUTES).sort(), paths.map(([path]) => path.slice(1)).sort());
  for (const [path, operations] of paths) {
    const route = ROUTES[path.slice(1) as keyof typeof ROUTES];
    const [[method, operation] = ['', undefined]] = Object.entries(operations);
    assert.equal(route.method, method.toUpperCase(), path);
    const requestRef = operation?.requestBody?.content['application/json'].schema.$ref;
    assert.equal(route.request, requestRef === undefined ? undefined : refName(requestRef), path);
    const responses = operation?.responses ?? {};
    const okRef = responses['200']?.content?.['application/json'].schema.$ref;
    const expected =
      okRef === undefined
        ? { kind: 'empty' }
        : { kind: '204' in responses ? 'body-or-empty' : 'body', schema: refName(okRef) };
    assert.deepEqual(route.response, expected, path);
    assert.equal(route.acceptsFds, ['vm.create', 'vm.add-net', 'vm.add-device', 'vm.restore', 'vm.receive-migration'].includes(path.slice(1)), path);
  }
  assert.equal(API_ROOT, new URL((openApi as unknown as { servers: { url: string }[] }).servers[0]!.url).pathname);
});

test('the strict schemas refuse unknown fields, allow null only for optional fields without a default', () => {
  const disk = strict.DiskConfig as { additionalProperties: boolean; properties: Record<string, Schema> };
  assert.equal(disk.additionalProperties, false);
  assert.deepEqual(disk.properties.path, { type: ['string', 'null'] });
  assert.deepEqual(disk.properties.readonly, { type: 'boolean', default: false });
  assert.deepEqual(disk.properties.rate_limiter_config, { anyOf: [{ $ref: '#/components/schemas/RateLimiterConfig' }, { type: 'null' }] });
  assert.deepEqual(disk.properties.pci_device_id, { type: ['integer', 'null'], minimum: 0, maximum: 255 });
  assert.deepEqual(disk.properties.disable_io_uring, { type: 'boolean', default: false }, 'overlay field');
  const cpus = strict.CpusConfig as { properties: Record<string, Schema> };
  assert.deepEqual(cpus.properties.boot_vcpus, { minimum: 1, type: 'integer' }, 'required: never null');
  const vsock = strict.VsockConfig as { properties: Record<string, Schema> };
  assert.deepEqual(vsock.properties.cid, { type: 'integer', minimum: 3, maximum: Number.MAX_SAFE_INTEGER, description: 'Guest Vsock CID' });
  assert.deepEqual((strict.ImageType as Schema).enum, ['FixedVhd', 'Qcow2', 'Raw', 'Vhdx', 'FlatVmdk', 'Unknown']);
  assert.equal((strict.VmCounters as Schema).additionalProperties !== false, true, 'maps stay open');
  assert.equal(JSON.stringify(strict).includes('"deprecated"'), false);
  assert.equal(JSON.stringify(strict).includes('"format"'), false);
});

test('validators are compiled once into the cache directory and loaded from it afterwards', async () => {
  const cacheDir = mkdtempSync(join(packageRoot(), 'build', 'api-test-'));
  try {
    const compiled = await loadApiValidators(cacheDir);
    const files = readdirSync(cacheDir);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^openapi-validators-[0-9a-f]{16}\.cjs$/);
    const cached = await loadApiValidators(cacheDir);
    assert.notEqual(cached, compiled, 'the second load comes from the file');
    assert.deepEqual(Object.keys(cached).sort(), [...BODY_SCHEMAS].sort());
    for (const validators of [compiled, cached]) {
      assert.equal(validators.VmConfig({ payload: { kernel: '/k' } }), true);
      assert.equal(validators.VmConfig({ payload: { kernel: '/k' }, cpus: { boot_vcpus: 0, max_vcpus: 1 } }), false);
      assert.equal(validators.ReceiveMigrationData({ receiver_url: 'unix:/s', zone_updates: [{ id: '', host_numa_node: 0 }] }), false);
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  assert.equal(existsSync(cacheDir), false);
});

test('schema violations are explained with the JSON path of the field', async () => {
  const validators = await loadApiValidators();
  const explain = (body: unknown): string => {
    assert.equal(validators.VmConfig(body), false);
    return describeViolation(validators.VmConfig.errors);
  };
  const payload = { kernel: '/k' };
  assert.equal(explain({}), 'missing field "payload"');
  assert.equal(explain({ payload, foo: 1 }), 'unknown field "foo"');
  assert.equal(explain({ payload, disks: [{ path: '/a' }, { bogus: true }] }), 'unknown field "bogus" in disks[1]');
  assert.equal(explain({ payload, cpus: { boot_vcpus: 'two', max_vcpus: 2 } }), 'cpus.boot_vcpus must be an integer');
  assert.equal(explain({ payload, cpus: { boot_vcpus: 1.5, max_vcpus: 2 } }), 'cpus.boot_vcpus must be an integer');
  assert.equal(explain({ payload, serial: { mode: 'Loud' } }), 'serial.mode must be one of Off, Pty, Tty, File, Socket, Null');
  assert.equal(explain({ payload, disks: [{ pci_device_id: 256 }] }), 'disks[0].pci_device_id must be <= 255');
  assert.equal(explain({ payload, net: [{ rate_limiter_config: 5 }] }), 'net[0].rate_limiter_config must be an object');
  assert.equal(explain({ payload, memory: { size: 2 ** 60 } }), `memory.size must be <= ${Number.MAX_SAFE_INTEGER}`);
  assert.equal(explain([]), 'the body must be an object');
});

/** Follows a property's `$ref` to the enum schema that carries the default (`core_scheduling: $ref CoreSchedulingMode`). */
function specDefault(property: Schema): unknown {
  if ('default' in property) return property.default;
  const ref = property.$ref as string | undefined;
  return ref === undefined ? undefined : openApi.components.schemas[refName(ref)]?.default;
}

test('from-json fills every default the YAML states (where upstream code agrees)', () => {
  const vm = vmConfigFromJson({
    payload: { kernel: '/k' },
    cpus: { boot_vcpus: 1, max_vcpus: 1 },
    memory: { size: 1 << 20, zones: [{ id: 'z', size: 1 << 20 }] },
    balloon: { size: 1 },
    rng: { src: '/dev/random' },
    console: { mode: 'Off' },
    rtc: {},
    platform: {},
  }).config;
  const converted: Record<string, object> = {
    VmConfig: vm,
    CpusConfig: vm.cpus,
    MemoryConfig: vm.memory,
    MemoryZoneConfig: vm.memory.zones![0]!,
    BalloonConfig: vm.balloon!,
    RngConfig: vm.rng,
    ConsoleConfig: vm.console,
    RtcConfig: vm.rtc!,
    PlatformConfig: vm.platform!,
    DiskConfig: diskConfigFromJson({}),
    NetConfig: netConfigFromJson({}),
    FsConfig: fsConfigFromJson({ tag: 't', socket: '/s' }),
    PmemConfig: pmemConfigFromJson({ file: '/f' }),
    VdpaConfig: vdpaConfigFromJson({ path: '/p' }),
    VsockConfig: vsockConfigFromJson({ cid: 3, socket: '/s' }),
    RestoreConfig: restoreConfigFromJson({ source_url: 'file:///s' }),
    ReceiveMigrationData: receiveMigrationFromJson({ receiver_url: 'unix:/s' }),
    SendMigrationData: sendMigrationFromJson({ destination_url: 'unix:/s' }),
  };
  // Where upstream's code has no default although the YAML states one: NetConfig ip/mask (catalogue: "YAML NetConfig
  // ip/mask defaults vs none in code"; the overlay drops them from the strict schema too), and the platform fields
  // that exist only in builds with the tdx or sev_snp feature.
  const codeHasNoDefault = new Set(['NetConfig.ip', 'NetConfig.mask', 'PlatformConfig.tdx', 'PlatformConfig.sev_snp']);
  let checked = 0;
  for (const [name, value] of Object.entries(converted)) {
    const properties = openApi.components.schemas[name]?.properties as Record<string, Schema>;
    for (const [field, property] of Object.entries(properties)) {
      const expected = specDefault(property);
      if (expected === undefined || codeHasNoDefault.has(`${name}.${field}`)) continue;
      const actual = (value as Record<string, unknown>)[field];
      assert.deepEqual(actual, expected, `${name}.${field}`);
      checked++;
    }
  }
  assert.equal(checked, 58, "every YAML default of these components is compared");
});
