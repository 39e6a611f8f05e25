/**
 * Helper for building objects under `exactOptionalPropertyTypes`: callers list every field of `T` (optional ones may
 * be `undefined`), and fields that are `undefined` are left out of the result. Listing every field keeps the builders
 * complete when a type gains a field.
 */

type OptionalKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? K : never }[keyof T];

/** `T` with every field required; optional fields of `T` accept `undefined`. */
export type AllFields<T> = {
  [K in keyof T]-?: K extends OptionalKeys<T> ? Exclude<T[K], undefined> | undefined : T[K];
};

export function omitUndefined<T extends object>(fields: AllFields<T>): T {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) result[key] = value;
  }
  return result as T;
}
