/*
 * C baseline for the exit round-trip benchmark: a 64-bit guest executes `out 0x90, al` N times; each port write exits
 * to this loop, which dispatches it to a no-op handler and re-enters KVM_RUN. Prints nanoseconds per exit.
 * Usage: exit-loop <iterations>. Mirrors bench/exit-roundtrip.ts, which does the same through Nimbus's TypeScript path.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (4u << 20)
#define CODE 0x100000
#define PML4 0xa000
#define PDPT 0xb000
#define PD 0xc000
#define GDT 0x500

static void die(const char *what) {
  perror(what);
  exit(1);
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, uint8_t l, uint8_t db) {
  struct kvm_segment s = {.base = 0, .limit = 0xfffff, .selector = sel, .type = type, .present = 1, .dpl = 0,
                          .db = db, .s = 1, .l = l, .g = 1};
  return s;
}

static volatile uint64_t sink;
static void handle_port(uint16_t port, uint8_t *data) { sink += port + data[0]; }

int main(int argc, char **argv) {
  uint32_t iterations = argc > 1 ? (uint32_t)atoi(argv[1]) : 100000;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap");
  struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
                                               .userspace_addr = (uint64_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  if (ioctl(vm, KVM_SET_TSS_ADDR, 0xf8000000) < 0) die("KVM_SET_TSS_ADDR");
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");

  uint64_t *gdt = (uint64_t *)(mem + GDT);
  gdt[0] = 0;
  gdt[1] = 0x00cf9b000000ffffULL;
  gdt[2] = 0x00af9b000000ffffULL;
  gdt[3] = 0x00cf93000000ffffULL;
  *(uint64_t *)(mem + PML4) = PDPT | 3;
  *(uint64_t *)(mem + PDPT) = PD | 3;
  for (int i = 0; i < 512; i++) ((uint64_t *)(mem + PD))[i] = ((uint64_t)i << 21) | 0x83;
  uint8_t code[] = {0xb9, 0, 0, 0, 0, 0xe6, 0x90, 0xff, 0xc9, 0x75, 0xfa, 0x0f, 0x0b};
  memcpy(code + 1, &iterations, 4);
  memcpy(mem + CODE, code, sizeof code);

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs = seg(0x10, 11, 1, 0);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg(0x18, 3, 0, 1);
  sregs.gdt.base = GDT;
  sregs.gdt.limit = 31;
  sregs.cr0 = 0x80000011;
  sregs.cr3 = PML4;
  sregs.cr4 = 0x20;
  sregs.efer = 0x500;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = CODE, .rflags = 2};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  struct timespec start, end;
  uint32_t exits = 0;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason == KVM_EXIT_IO) {
      handle_port(run->io.port, (uint8_t *)run + run->io.data_offset);
      exits++;
      continue;
    }
    if (run->exit_reason == KVM_EXIT_SHUTDOWN) break;
    fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
    return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  if (exits != iterations) {
    fprintf(stderr, "expected %u exits, saw %u\n", iterations, exits);
    return 1;
  }
  double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
  printf("%.1f\n", ns / exits);
  return 0;
}
