/* Exports sizeof/offsetof of the kernel structs we mirror in TypeScript, so a test can compare the two. */
#ifndef NIMBUS_LAYOUT_H
#define NIMBUS_LAYOUT_H
#include <node_api.h>
napi_value build_layout(napi_env env);
#endif
