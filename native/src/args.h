/* Argument helpers shared by the addon's syscall functions: fetch and range-check N-API arguments. */
#ifndef NIMBUS_ARGS_H
#define NIMBUS_ARGS_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_ARGS 6

/* Copies the first `want` arguments into argv; throws a TypeError if fewer were passed. */
bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);

/* A number or bigint as int64 / uint64 / int32; false with a TypeError or RangeError pending otherwise. */
bool get_i64(napi_env env, napi_value v, int64_t *out);
bool get_u64(napi_env env, napi_value v, uint64_t *out);
bool get_int(napi_env env, napi_value v, int *out);

napi_value make_int(napi_env env, int64_t v);

/* Returns the data pointer and length of a TypedArray/DataView/Buffer, or false (with a TypeError pending). */
bool get_bytes(napi_env env, napi_value v, void **data, size_t *length);

#endif
