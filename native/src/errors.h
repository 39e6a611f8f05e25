/* Error helpers: every failed syscall becomes a JS Error carrying {errno, code, syscall}. */
#ifndef NIMBUS_ERRORS_H
#define NIMBUS_ERRORS_H
#include <node_api.h>

/* Throws an Error for `syscall` failing with `err` (an errno value). Always returns NULL for convenience. */
napi_value throw_errno(napi_env env, const char *syscall, int err);

/* Throws a TypeError/RangeError with a message. Always returns NULL. */
napi_value throw_type(napi_env env, const char *message);
napi_value throw_range(napi_env env, const char *message);

#define NAPI_CALL(env, call)                                      \
  do {                                                            \
    if ((call) != napi_ok) {                                      \
      const napi_extended_error_info *info_ = NULL;               \
      napi_get_last_error_info((env), &info_);                    \
      bool pending_ = false;                                      \
      napi_is_exception_pending((env), &pending_);                \
      if (!pending_)                                              \
        napi_throw_error((env), "EADDON",                         \
                         info_ && info_->error_message            \
                             ? info_->error_message               \
                             : "N-API call failed");              \
      return NULL;                                                \
    }                                                             \
  } while (0)

#endif
