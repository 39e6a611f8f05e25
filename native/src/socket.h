/* Unix stream socket syscalls for the REST API server and its clients (socket.c). */
#ifndef NIMBUS_SOCKET_H
#define NIMBUS_SOCKET_H
#include <node_api.h>

napi_value js_socket_unix(napi_env env, napi_callback_info info);
napi_value js_bind(napi_env env, napi_callback_info info);
napi_value js_listen(napi_env env, napi_callback_info info);
napi_value js_accept4(napi_env env, napi_callback_info info);
napi_value js_connect(napi_env env, napi_callback_info info);
napi_value js_recvmsg(napi_env env, napi_callback_info info);
napi_value js_sendmsg(napi_env env, napi_callback_info info);
napi_value js_shutdown(napi_env env, napi_callback_info info);
napi_value js_getsockopt(napi_env env, napi_callback_info info);

#endif
