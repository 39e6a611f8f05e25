/*
 * Nimbus native addon: a thin syscall layer for the hypervisor and host layers. One function per syscall, no policy.
 * Memory views are only handed out inside mappings this addon created (see mappings.c); failures throw Errors that
 * carry {errno, code, syscall}. Loaded by the main thread and by every vCPU/I/O Worker (context-aware module).
 */
#include "args.h"
#include "errors.h"
#include "layout.h"
#include "mappings.h"
#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* The real-time signal used to kick a vCPU thread out of KVM_RUN (SIGUSR1 belongs to Node's inspector). */
static int kick_signal(void) { return SIGRTMIN + 2; }

/* open(path: string, flags: number): fd */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char path[4096];
  size_t len;
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  int flags;
  if (!get_int(env, argv[1], &flags)) return NULL;
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno);
  return make_int(env, fd);
}

/* close(fd) */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int fd;
  if (!get_int(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

/* ioctl(fd, request, arg?: number | bigint | TypedArray | DataView): the ioctl's non-negative return value. */
static napi_value js_ioctl(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return throw_type(env, "ioctl(fd, request, arg?)");
  int fd;
  uint64_t request;
  if (!get_int(env, argv[0], &fd) || !get_u64(env, argv[1], &request)) return NULL;
  unsigned long arg = 0;
  if (argc >= 3) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_number || t == napi_bigint) {
      uint64_t value;
      if (!get_u64(env, argv[2], &value)) return NULL;
      arg = (unsigned long)value;
    } else if (t != napi_undefined) {
      void *data;
      size_t length;
      if (!get_bytes(env, argv[2], &data, &length)) return NULL;
      arg = (unsigned long)data;
    }
  }
  int rc = ioctl(fd, (unsigned long)request, arg);
  if (rc < 0) return throw_errno(env, "ioctl", errno);
  return make_int(env, rc);
}

/* mmap(length, prot, flags, fd, offset): bigint address, recorded so views can be made inside it. */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  uint64_t length, offset;
  int prot, flags, fd;
  if (!get_u64(env, argv[0], &length) || !get_int(env, argv[1], &prot) || !get_int(env, argv[2], &flags) ||
      !get_int(env, argv[3], &fd) || !get_u64(env, argv[4], &offset))
    return NULL;
  if (length == 0) return throw_range(env, "mmap length must be positive");
  void *addr = mmap(NULL, length, prot, flags, fd, (off_t)offset);
  if (addr == MAP_FAILED) return throw_errno(env, "mmap", errno);
  if (!mappings_add((uintptr_t)addr, length)) {
    munmap(addr, length);
    return throw_errno(env, "mmap", ENOMEM);
  }
  napi_value r;
  NAPI_CALL(env, napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)addr, &r));
  return r;
}

/* munmap(address, length): only mappings made by mmap() above, whole. */
static napi_value js_munmap(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  uint64_t addr, length;
  if (!get_u64(env, argv[0], &addr) || !get_u64(env, argv[1], &length)) return NULL;
  if (!mappings_remove((uintptr_t)addr, length)) return throw_range(env, "munmap of a range that is not a whole mapping");
  if (munmap((void *)(uintptr_t)addr, length) < 0) return throw_errno(env, "munmap", errno);
  return NULL;
}

/* madvise(address, length, advice) inside a recorded mapping. */
static napi_value js_madvise(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  uint64_t addr, length;
  int advice;
  if (!get_u64(env, argv[0], &addr) || !get_u64(env, argv[1], &length) || !get_int(env, argv[2], &advice)) return NULL;
  if (!mappings_contain((uintptr_t)addr, length)) return throw_range(env, "madvise outside a mapping");
  if (madvise((void *)(uintptr_t)addr, length, advice) < 0) return throw_errno(env, "madvise", errno);
  return NULL;
}

/* view(address, length): an external ArrayBuffer over [address, address+length), which must lie in one mapping. */
static napi_value js_view(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  uint64_t addr, length;
  if (!get_u64(env, argv[0], &addr) || !get_u64(env, argv[1], &length)) return NULL;
  if (length == 0 || length > (1ULL << 32)) return throw_range(env, "view length must be 1 byte to 4 GiB");
  if (!mappings_contain((uintptr_t)addr, length)) return throw_range(env, "view outside the addon's mappings");
  napi_value ab;
  NAPI_CALL(env, napi_create_external_arraybuffer(env, (void *)(uintptr_t)addr, length, NULL, NULL, &ab));
  return ab;
}

/* memfdCreate(name, flags): fd */
static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char name[250];
  size_t len;
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len));
  int flags;
  if (!get_int(env, argv[1], &flags)) return NULL;
  int fd = memfd_create(name, (unsigned)flags | MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "memfd_create", errno);
  return make_int(env, fd);
}

/* eventfd(initval, flags): fd (always close-on-exec). */
static napi_value js_eventfd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int initval, flags;
  if (!get_int(env, argv[0], &initval) || !get_int(env, argv[1], &flags)) return NULL;
  int fd = eventfd((unsigned)initval, flags | EFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "eventfd", errno);
  return make_int(env, fd);
}

/* eventfdWrite(fd, value): adds value to the counter. */
static napi_value js_eventfd_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int fd;
  uint64_t value;
  if (!get_int(env, argv[0], &fd) || !get_u64(env, argv[1], &value)) return NULL;
  if (eventfd_write(fd, value) < 0) return throw_errno(env, "eventfd_write", errno);
  return NULL;
}

/* eventfdRead(fd): the counter as a number (reset to 0), or -1 when a non-blocking eventfd is not readable. */
static napi_value js_eventfd_read(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int fd;
  if (!get_int(env, argv[0], &fd)) return NULL;
  eventfd_t value;
  if (eventfd_read(fd, &value) < 0) {
    if (errno == EAGAIN) return make_int(env, -1);
    return throw_errno(env, "eventfd_read", errno);
  }
  return make_int(env, (int64_t)value);
}

/* epollCreate(): fd */
static napi_value js_epoll_create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return throw_errno(env, "epoll_create1", errno);
  return make_int(env, fd);
}

/* epollCtl(epfd, op, fd, events, data: u32) */
static napi_value js_epoll_ctl(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  int epfd, op, fd, events, data;
  if (!get_int(env, argv[0], &epfd) || !get_int(env, argv[1], &op) || !get_int(env, argv[2], &fd) ||
      !get_int(env, argv[3], &events) || !get_int(env, argv[4], &data))
    return NULL;
  struct epoll_event ev = {.events = (uint32_t)events, .data.u32 = (uint32_t)data};
  if (epoll_ctl(epfd, op, fd, &ev) < 0) return throw_errno(env, "epoll_ctl", errno);
  return NULL;
}

/*
 * epollWait(epfd, out: Uint32Array, timeoutMs): number of ready events; out receives (events, data) pairs.
 * Returns 0 on EINTR so a kicked I/O thread can look at its mailbox.
 */
static napi_value js_epoll_wait(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int epfd, timeout;
  if (!get_int(env, argv[0], &epfd) || !get_int(env, argv[2], &timeout)) return NULL;
  void *data;
  size_t length;
  if (!get_bytes(env, argv[1], &data, &length)) return NULL;
  int max = (int)(length / 8);
  if (max < 1) return throw_range(env, "epollWait needs room for at least one event");
  if (max > 256) max = 256;
  struct epoll_event events[256];
  int n = epoll_wait(epfd, events, max, timeout);
  if (n < 0) {
    if (errno == EINTR) return make_int(env, 0);
    return throw_errno(env, "epoll_wait", errno);
  }
  uint32_t *out = data;
  for (int i = 0; i < n; i++) {
    out[2 * i] = events[i].events;
    out[2 * i + 1] = events[i].data.u32;
  }
  return make_int(env, n);
}

static void kick_handler(int signo) { (void)signo; }

/* installKickHandler(): installs a no-op handler (no SA_RESTART) for the kick signal; returns its number. */
static napi_value js_install_kick_handler(napi_env env, napi_callback_info info) {
  (void)info;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = kick_handler;
  sigemptyset(&sa.sa_mask);
  if (sigaction(kick_signal(), &sa, NULL) < 0) return throw_errno(env, "sigaction", errno);
  return make_int(env, kick_signal());
}

/* threadSelf(): this thread's kernel thread id, for kick(). */
static napi_value js_thread_self(napi_env env, napi_callback_info info) {
  (void)info;
  return make_int(env, gettid());
}

/*
 * kick(tid): sends the kick signal to a thread of this process so a blocking KVM_RUN/epoll_wait returns EINTR.
 * Uses the kernel thread id (tgkill), so a thread that has already exited gives ESRCH rather than undefined behaviour.
 * Returns false if the thread no longer exists.
 */
static napi_value js_kick(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int tid;
  if (!get_int(env, argv[0], &tid)) return NULL;
  napi_value result;
  if (tgkill(getpid(), tid, kick_signal()) < 0) {
    if (errno != ESRCH) return throw_errno(env, "tgkill", errno);
    NAPI_CALL(env, napi_get_boolean(env, false, &result));
    return result;
  }
  NAPI_CALL(env, napi_get_boolean(env, true, &result));
  return result;
}

/* layout(): sizeof/offsetof of the kernel structs mirrored in src/abi. */
static napi_value js_layout(napi_env env, napi_callback_info info) {
  (void)info;
  return build_layout(env);
}

NAPI_MODULE_INIT() {
  static const struct { const char *name; napi_callback fn; } fns[] = {
    {"open", js_open}, {"close", js_close}, {"ioctl", js_ioctl}, {"mmap", js_mmap}, {"munmap", js_munmap},
    {"madvise", js_madvise}, {"view", js_view}, {"memfdCreate", js_memfd_create}, {"eventfd", js_eventfd},
    {"eventfdWrite", js_eventfd_write}, {"eventfdRead", js_eventfd_read}, {"epollCreate", js_epoll_create},
    {"epollCtl", js_epoll_ctl}, {"epollWait", js_epoll_wait}, {"installKickHandler", js_install_kick_handler},
    {"threadSelf", js_thread_self}, {"kick", js_kick}, {"layout", js_layout},
    {"socketUnix", js_socket_unix}, {"bind", js_bind}, {"listen", js_listen}, {"accept4", js_accept4},
    {"connect", js_connect}, {"recvmsg", js_recvmsg}, {"sendmsg", js_sendmsg}, {"shutdown", js_shutdown},
    {"getsockopt", js_getsockopt},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
  }
  return exports;
}
