/**
 * The request and response bodies the API validates (OpenAPI components), the shape of their compiled validators
 * (validators.ts builds them), and the explanation of a failed validation. Pure: no node:* imports.
 */

/** The OpenAPI components that are request or response bodies. */
export const BODY_SCHEMAS = [
  'VmConfig', 'VmResize', 'VmResizeDisk', 'VmResizeZone', 'DeviceConfig', 'DiskConfig', 'FsConfig',
  'GenericVhostUserConfig', 'PmemConfig', 'NetConfig', 'VsockConfig', 'VdpaConfig', 'VmAddUserDevice', 'VmRemoveDevice',
  'VmSnapshotConfig', 'VmCoredumpData', 'RestoreConfig', 'ReceiveMigrationData', 'SendMigrationData',
  'VmmPingResponse', 'VmInfo', 'VmCounters', 'PciDeviceInfo',
] as const;
export type BodySchema = (typeof BODY_SCHEMAS)[number];

/** One failed check, as ajv reports it. */
export interface SchemaViolation {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** An ajv validate function: true if valid; otherwise `errors` says why. */
export interface BodyValidator {
  (data: unknown): boolean;
  errors?: SchemaViolation[] | null;
}

export type ApiValidators = Readonly<Record<BodySchema, BodyValidator>>;

/**
 * A one-line explanation of why a body failed its schema, naming the field as a JSON path (`disks[0].path`):
 * `unknown field "foo" in disks[0]`, `missing field "payload"`, `cpus.boot_vcpus must be an integer`, ...
 */
export function describeViolation(errors: readonly SchemaViolation[] | null | undefined): string {
  // A nullable field's alternatives fail as "must be null" and "must match a schema in anyOf": report the real one.
  const error = errors?.find((e) => e.keyword !== 'anyOf' && !(e.keyword === 'type' && e.params.type === 'null'));
  if (error === undefined) return 'the body does not match its schema';
  const at = fieldPath(error.instancePath);
  const where = at === '' ? '' : ` in ${at}`;
  const subject = at === '' ? 'the body' : at;
  switch (error.keyword) {
    case 'additionalProperties':
      return `unknown field "${String(error.params.additionalProperty)}"${where}`;
    case 'required':
      return `missing field "${String(error.params.missingProperty)}"${where}`;
    case 'type': {
      const types = String(error.params.type).split(',').filter((type) => type !== 'null');
      return `${subject} must be ${types.map((type) => `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`).join(' or ')}`;
    }
    case 'enum':
      return `${subject} must be one of ${(error.params.allowedValues as unknown[]).filter((v) => v !== null).join(', ')}`;
    default:
      return `${subject} ${error.message ?? 'is invalid'}`;
  }
}

/** `/disks/0/path` -> `disks[0].path`. */
function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path === '' ? part : `${path}.${part}`), '');
}
