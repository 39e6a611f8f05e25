/* Argument helpers shared by the addon's syscall functions (see args.h). */
#include "args.h"
#include "errors.h"

bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = MAX_ARGS;
  napi_value tmp[MAX_ARGS];
  if (napi_get_cb_info(env, info, &argc, tmp, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    throw_type(env, "missing arguments");
    return false;
  }
  for (size_t i = 0; i < want; i++) argv[i] = tmp[i];
  return true;
}

bool get_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_number) return napi_get_value_int64(env, v, out) == napi_ok;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok;
  }
  throw_type(env, "expected a number or bigint");
  return false;
}

bool get_u64(napi_env env, napi_value v, uint64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok;
  }
  int64_t s;
  if (!get_i64(env, v, &s)) return false;
  if (s < 0) {
    throw_range(env, "expected a non-negative value");
    return false;
  }
  *out = (uint64_t)s;
  return true;
}

bool get_int(napi_env env, napi_value v, int *out) {
  int64_t x;
  if (!get_i64(env, v, &x)) return false;
  if (x < INT32_MIN || x > INT32_MAX) {
    throw_range(env, "integer argument out of range");
    return false;
  }
  *out = (int)x;
  return true;
}

napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  NAPI_CALL(env, napi_create_int64(env, v, &r));
  return r;
}

bool get_bytes(napi_env env, napi_value v, void **data, size_t *length) {
  bool is_typed, is_view;
  napi_is_typedarray(env, v, &is_typed);
  napi_is_dataview(env, v, &is_view);
  if (is_typed) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok) return false;
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *length = count * elem;
    return true;
  }
  if (is_view) {
    napi_value ab;
    size_t offset;
    return napi_get_dataview_info(env, v, length, data, &ab, &offset) == napi_ok;
  }
  throw_type(env, "expected a TypedArray or DataView");
  return false;
}
