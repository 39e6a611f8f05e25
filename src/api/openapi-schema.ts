/**
 * Turns Cloud Hypervisor's OpenAPI description (openapi/cloud-hypervisor.yaml, parsed) into the strict JSON Schemas
 * the API validates requests and responses with:
 * - the fields upstream's code accepts beyond the YAML are added (openapi-overlay.ts);
 * - objects reject unknown fields (`additionalProperties: false`), unlike upstream, so a typo is an error;
 * - an optional field without a default may be `null` (serde's `Option`: ch-remote sends `"tls_dir": null`);
 * - OpenAPI integer formats (`uint8`, `int16`, `int64`, ...) become `minimum`/`maximum` bounds; `int64` is limited
 *   to the integers a JSON number holds exactly.
 */
import { EXTRA_SCHEMAS, SCHEMA_PATCHES, type SchemaObject } from './openapi-overlay.ts';

/** The `$id` of the schema document; components are referenced as `nimbus-openapi#/components/schemas/<Name>`. */
export const API_SCHEMA_ID = 'nimbus-openapi';

export interface ApiSchemaDocument {
  $id: string;
  components: { schemas: Record<string, SchemaObject> };
}

const INTEGER_FORMAT_RANGES: Record<string, readonly [number, number]> = {
  int8: [-0x80, 0x7f],
  uint8: [0, 0xff],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** Keywords of OpenAPI that JSON Schema validators do not know; they carry no validation. */
const ANNOTATION_ONLY = new Set(['deprecated', 'example']);

/** Builds the strict schema document from a parsed OpenAPI description. */
export function buildApiSchemas(openApi: unknown): ApiSchemaDocument {
  const components = (openApi as { components?: { schemas?: Record<string, SchemaObject> } }).components?.schemas;
  if (components === undefined) throw new Error('the OpenAPI description has no components.schemas');
  const merged: Record<string, SchemaObject> = { ...components, ...EXTRA_SCHEMAS };
  for (const [name, patch] of Object.entries(SCHEMA_PATCHES)) {
    const schema = merged[name];
    if (schema === undefined) throw new Error(`the overlay patches ${name}, which the OpenAPI description lacks`);
    const properties = { ...(schema.properties as Record<string, SchemaObject> | undefined), ...patch.properties };
    merged[name] = {
      ...schema,
      ...(patch.properties === undefined ? {} : { properties }),
      ...(patch.required === undefined ? {} : { required: patch.required }),
      ...(patch.enum === undefined ? {} : { enum: patch.enum }),
    };
  }
  const schemas = Object.fromEntries(Object.entries(merged).map(([name, schema]) => [name, strictSchema(schema, name)]));
  return { $id: API_SCHEMA_ID, components: { schemas } };
}

/** A strict copy of one schema (recursively); `where` names it in errors. */
function strictSchema(schema: SchemaObject, where: string): SchemaObject {
  const result: SchemaObject = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (ANNOTATION_ONLY.has(keyword)) continue;
    if (keyword === 'format') {
      applyFormat(result, schema, String(value), where);
    } else if (keyword === 'properties') {
      const required = new Set((schema.required as string[] | undefined) ?? []);
      result.properties = Object.fromEntries(
        Object.entries(value as Record<string, SchemaObject>).map(([name, property]) => {
          const strict = strictSchema(property, `${where}.${name}`);
          return [name, required.has(name) || 'default' in property ? strict : nullable(strict)];
        }),
      );
    } else if (keyword === 'items' || (keyword === 'additionalProperties' && typeof value === 'object')) {
      result[keyword] = strictSchema(value as SchemaObject, `${where}[]`);
    } else {
      result[keyword] = value;
    }
  }
  if (result.properties !== undefined && result.additionalProperties === undefined) result.additionalProperties = false;
  return result;
}

function applyFormat(result: SchemaObject, schema: SchemaObject, format: string, where: string): void {
  const range = INTEGER_FORMAT_RANGES[format];
  if (schema.type !== 'integer' || range === undefined) throw new Error(`${where}: unsupported format "${format}"`);
  const [low, high] = range;
  result.minimum = Math.max(low, (schema.minimum as number | undefined) ?? low);
  result.maximum = Math.min(high, (schema.maximum as number | undefined) ?? high);
}

/** The schema, also accepting `null`. */
function nullable(schema: SchemaObject): SchemaObject {
  if (typeof schema.type === 'string') {
    const { enum: values, ...rest } = schema;
    return { ...rest, type: [schema.type, 'null'], ...(Array.isArray(values) ? { enum: [...values, null] } : {}) };
  }
  return { anyOf: [schema, { type: 'null' }] };
}
