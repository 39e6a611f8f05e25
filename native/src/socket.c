/*
 * Unix stream socket syscalls: one function per syscall, no policy. Sockets are always close-on-exec, received file
 * descriptors (SCM_RIGHTS) too; sends never raise SIGPIPE. Would-block results are returned as -1, every other
 * failure throws an Error carrying {errno, code, syscall}. Paths and buffers are bounds-checked.
 */
#include "socket.h"

#include "args.h"
#include "errors.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The kernel's limit on descriptors in one SCM_RIGHTS message (SCM_MAX_FD). */
#define MAX_PASSED_FDS 253

/* Room for one SCM_RIGHTS message with MAX_PASSED_FDS descriptors, aligned for struct cmsghdr. */
union fd_control {
  char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
  struct cmsghdr align;
};

static bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

/* Fills a sockaddr_un from a JS string path; a RangeError if it does not fit sun_path or contains a NUL byte. */
static bool get_unix_address(napi_env env, napi_value value, struct sockaddr_un *addr, socklen_t *addr_len) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  char path[sizeof addr->sun_path + 1];
  size_t len;
  if (napi_get_value_string_utf8(env, value, path, sizeof path, &len) != napi_ok) {
    throw_type(env, "expected a socket path string");
    return false;
  }
  if (len == 0) {
    throw_range(env, "the socket path is empty");
    return false;
  }
  if (len >= sizeof addr->sun_path) {
    throw_range(env, "the socket path is longer than 107 bytes");
    return false;
  }
  if (strlen(path) != len) {
    throw_range(env, "the socket path contains a NUL byte");
    return false;
  }
  memcpy(addr->sun_path, path, len);
  *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  return true;
}

/* socketUnix(flags): a close-on-exec AF_UNIX SOCK_STREAM socket; flags may add SOCK_NONBLOCK. */
napi_value js_socket_unix(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int flags;
  if (!get_int(env, argv[0], &flags)) return NULL;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  return make_int(env, fd);
}

/* bind(fd, path) */
napi_value js_bind(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd;
  struct sockaddr_un addr;
  socklen_t addr_len;
  if (!get_int(env, argv[0], &fd) || !get_unix_address(env, argv[1], &addr, &addr_len)) return NULL;
  if (bind(fd, (struct sockaddr *)&addr, addr_len) < 0) return throw_errno(env, "bind", errno);
  return NULL;
}

/* listen(fd, backlog) */
napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd, backlog;
  if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &backlog)) return NULL;
  if (listen(fd, backlog) < 0) return throw_errno(env, "listen", errno);
  return NULL;
}

/* accept4(fd, flags): the connected socket (always close-on-exec), or -1 if no connection is pending. */
napi_value js_accept4(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd, flags;
  if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &flags)) return NULL;
  int conn = accept4(fd, NULL, NULL, flags | SOCK_CLOEXEC);
  if (conn < 0) {
    if (would_block(errno)) return make_int(env, -1);
    return throw_errno(env, "accept4", errno);
  }
  return make_int(env, conn);
}

/* connect(fd, path) */
napi_value js_connect(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd;
  struct sockaddr_un addr;
  socklen_t addr_len;
  if (!get_int(env, argv[0], &fd) || !get_unix_address(env, argv[1], &addr, &addr_len)) return NULL;
  if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0) return throw_errno(env, "connect", errno);
  return NULL;
}

/*
 * recvmsg(fd, buffer, offset, length): {bytes, fds, truncated}. Reads at most `length` bytes into buffer[offset..];
 * bytes is -1 if nothing is available on a non-blocking socket and 0 at end of stream. fds are the descriptors
 * received with the data (SCM_RIGHTS, close-on-exec); truncated says the kernel dropped ancillary data.
 */
napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  int fd;
  int64_t offset, length;
  void *data;
  size_t size;
  if (!get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &size) || !get_i64(env, argv[2], &offset) ||
      !get_i64(env, argv[3], &length))
    return NULL;
  if (offset < 0 || length < 0 || (uint64_t)offset > size || (uint64_t)length > size - (uint64_t)offset)
    return throw_range(env, "recvmsg range outside the buffer");
  struct iovec iov = {.iov_base = (char *)data + offset, .iov_len = (size_t)length};
  union fd_control control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0 && !would_block(errno)) return throw_errno(env, "recvmsg", errno);

  napi_value result, fds, value;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_array(env, &fds));
  uint32_t count = 0;
  if (n >= 0) {
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
      size_t passed = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < passed; i++) {
        int received;
        memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof received);
        NAPI_CALL(env, napi_set_element(env, fds, count++, make_int(env, received)));
      }
    }
  }
  NAPI_CALL(env, napi_set_named_property(env, result, "bytes", make_int(env, n < 0 ? -1 : n)));
  NAPI_CALL(env, napi_set_named_property(env, result, "fds", fds));
  NAPI_CALL(env, napi_get_boolean(env, n >= 0 && (msg.msg_flags & MSG_CTRUNC) != 0, &value));
  NAPI_CALL(env, napi_set_named_property(env, result, "truncated", value));
  return result;
}

/*
 * sendmsg(fd, buffer, offset, length, fds?: number[]): bytes sent, or -1 if a non-blocking socket is full. The
 * descriptors travel with the first byte sent (SCM_RIGHTS). Never raises SIGPIPE (EPIPE is thrown instead).
 */
napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return throw_type(env, "sendmsg(fd, buffer, offset, length, fds?)");
  int fd;
  int64_t offset, length;
  void *data;
  size_t size;
  if (!get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &size) || !get_i64(env, argv[2], &offset) ||
      !get_i64(env, argv[3], &length))
    return NULL;
  if (offset < 0 || length < 0 || (uint64_t)offset > size || (uint64_t)length > size - (uint64_t)offset)
    return throw_range(env, "sendmsg range outside the buffer");
  struct iovec iov = {.iov_base = (char *)data + offset, .iov_len = (size_t)length};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  union fd_control control;
  uint32_t count = 0;
  if (argc >= 5) {
    napi_valuetype type;
    NAPI_CALL(env, napi_typeof(env, argv[4], &type));
    bool is_array = false;
    if (type != napi_undefined) {
      NAPI_CALL(env, napi_is_array(env, argv[4], &is_array));
      if (!is_array) return throw_type(env, "sendmsg: fds must be an array of descriptors");
      NAPI_CALL(env, napi_get_array_length(env, argv[4], &count));
    }
  }
  if (count > MAX_PASSED_FDS) return throw_range(env, "sendmsg: at most 253 descriptors per message");
  if (count > 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
    for (uint32_t i = 0; i < count; i++) {
      napi_value element;
      int passed;
      NAPI_CALL(env, napi_get_element(env, argv[4], i, &element));
      if (!get_int(env, element, &passed)) return NULL;
      memcpy(CMSG_DATA(cmsg) + i * sizeof(int), &passed, sizeof passed);
    }
  }
  ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (n < 0) {
    if (would_block(errno)) return make_int(env, -1);
    return throw_errno(env, "sendmsg", errno);
  }
  return make_int(env, n);
}

/* shutdown(fd, how) */
napi_value js_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd, how;
  if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &how)) return NULL;
  if (shutdown(fd, how) < 0) return throw_errno(env, "shutdown", errno);
  return NULL;
}

/* getsockopt(fd, level, name): the value of an integer socket option. */
napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int fd, level, name;
  if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &level) || !get_int(env, argv[2], &name)) return NULL;
  int value = 0;
  socklen_t value_len = sizeof value;
  if (getsockopt(fd, level, name, &value, &value_len) < 0) return throw_errno(env, "getsockopt", errno);
  return make_int(env, value);
}
