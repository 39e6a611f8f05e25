/**
 * Loads the compiled validators of the API's request and response bodies (ajv over openapi-schema.ts's document).
 *
 * Compiling is slow for a VMM's start-up (measured here: ~55 ms to import yaml and ajv, 85-130 ms to parse the YAML,
 * 70-90 ms to compile the schemas), so the validators are compiled once into standalone code kept in `build/api/`,
 * keyed by a hash of everything they are made from (the YAML, the overlay, this code's module files and ajv's
 * version). Later starts load that file (a few ms); a changed input simply produces a new file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../host/package-root.ts';
import { EXTRA_SCHEMAS, SCHEMA_PATCHES } from './openapi-overlay.ts';
import { type ApiValidators, BODY_SCHEMAS, type BodySchema, type BodyValidator } from './body-schemas.ts';
import { API_SCHEMA_ID, buildApiSchemas } from './openapi-schema.ts';

const FILE_PREFIX = 'openapi-validators-';
const VALIDATOR_SOURCES = ['validators.ts', 'openapi-schema.ts', 'openapi-overlay.ts', 'body-schemas.ts'];
/** Generated modules kept in the cache directory. */
const KEPT_GENERATIONS = 4;
const requireHere = createRequire(import.meta.url);

/** The path of the OpenAPI description in the package. */
export function openApiYamlPath(): string {
  return join(packageRoot(), 'src', 'api', 'openapi', 'cloud-hypervisor.yaml');
}

/** `build/api/` in the package: where the generated validators are kept. */
function defaultValidatorCacheDir(): string {
  return join(packageRoot(), 'build', 'api');
}

/**
 * Loads the validators from `cacheDir`, generating them first if that directory has none for the current inputs.
 * A directory that cannot be written only costs the compilation at every start.
 */
export async function loadApiValidators(cacheDir = defaultValidatorCacheDir()): Promise<ApiValidators> {
  const yamlText = readFileSync(openApiYamlPath(), 'utf8');
  const file = join(cacheDir, `${FILE_PREFIX}${inputsHash(yamlText)}.cjs`);
  if (existsSync(file)) return evaluateModule(readFileSync(file, 'utf8'));
  const { validators, code } = await compileValidators(yamlText);
  try {
    storeAtomically(cacheDir, file, code);
  } catch {
    // A read-only installation: keep the validators compiled in memory.
  }
  return validators;
}

/** Compiles the validators with ajv; `code` is the same validators as a standalone CommonJS module. */
async function compileValidators(yamlText: string): Promise<{ validators: ApiValidators; code: string }> {
  const [{ parse }, { default: Ajv }, { default: standaloneCode }] = await Promise.all([
    import('yaml'),
    import('ajv'),
    import('ajv/dist/standalone/index.js'),
  ]);
  const ajv = new Ajv.default({ strict: true, allErrors: false, code: { source: true } });
  ajv.addKeyword('components'); // the document's container of schemas, as in OpenAPI
  ajv.addSchema(buildApiSchemas(parse(yamlText) as unknown));
  const refs = Object.fromEntries(BODY_SCHEMAS.map((name) => [name, schemaRef(name)]));
  const validators = Object.fromEntries(
    BODY_SCHEMAS.map((name) => [name, ajv.getSchema(schemaRef(name)) as BodyValidator | undefined]),
  ) as Record<BodySchema, BodyValidator | undefined>;
  const missing = BODY_SCHEMAS.find((name) => validators[name] === undefined);
  if (missing !== undefined) throw new Error(`the OpenAPI description has no schema ${missing}`);
  return { validators: validators as ApiValidators, code: standaloneCode.default(ajv, refs) };
}

/**
 * Runs the generated CommonJS code with this module's `require`, so the ajv runtime helpers it imports resolve from
 * Nimbus's node_modules wherever the cache directory is.
 */
function evaluateModule(code: string): ApiValidators {
  const module = { exports: {} };
  new Function('require', 'module', 'exports', code)(requireHere, module, module.exports);
  return module.exports as ApiValidators;
}

function schemaRef(name: BodySchema): string {
  return `${API_SCHEMA_ID}#/components/schemas/${name}`;
}

/** A hash of what the validators are made from: spec, overlay, the schema-building code and ajv's version. */
function inputsHash(yamlText: string): string {
  const hash = createHash('sha256');
  hash.update(yamlText);
  hash.update(JSON.stringify({ EXTRA_SCHEMAS, SCHEMA_PATCHES, BODY_SCHEMAS }));
  // The sources the validators are generated from (the same whether Nimbus runs from tsc's output or the bundle).
  for (const source of VALIDATOR_SOURCES) hash.update(readFileSync(join(packageRoot(), 'src', 'api', source)));
  hash.update((requireHere('ajv/package.json') as { version: string }).version);
  return hash.digest('hex').slice(0, 16);
}

/**
 * Writes the generated module under its final name in one step, and keeps only the most recent few (tsc's output
 * and the bundle differ, so each has its own while both are in use).
 */
function storeAtomically(dir: string, file: string, code: string): void {
  mkdirSync(dir, { recursive: true });
  const staging = `${file}.${process.pid}.tmp`;
  writeFileSync(staging, code);
  renameSync(staging, file);
  const generated = readdirSync(dir)
    .filter((name) => name.startsWith(FILE_PREFIX) && name.endsWith('.cjs'))
    .map((name) => ({ path: join(dir, name), written: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => b.written - a.written);
  for (const old of generated.slice(KEPT_GENERATIONS)) rmSync(old.path, { force: true });
}
