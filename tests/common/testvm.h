/*
 * testvm.h - a VM for unit tests: no kernel, flat 32-bit segments, code loaded from a
 * byte string, run to the debug exit (out 0xf4, al).
 *
 * One VM per process (it reserves the low 4 GiB at fixed addresses): create it inside
 * each test or in a checked fixture, which check runs in the forked child.
 */
#ifndef TRAPEZE_TESTVM_H
#define TRAPEZE_TESTVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../monitor/vm.h"

#define TVM_MEM         (4u << 20)      /* guest RAM */
#define TVM_CODE        0x100000u       /* where tvm_run_code() loads and starts */
#define TVM_STACK       0x80000u        /* initial ESP */
#define TVM_DATA        0x90000u        /* scratch data the tests use */

/* Selectors tvm_create() loads (the flat segments do not come from a GDT). */
#define TVM_SEL_CODE    0x08
#define TVM_SEL_DATA    0x10
#define TVM_ATTR_CODE   0xc09b          /* 32-bit, 4 KiB granular, execute/read, accessed */
#define TVM_ATTR_DATA   0xc093          /* 32-bit, 4 KiB granular, read/write, accessed */

/* Create the VM (serial to /dev/null, TVM_MEM of RAM, cache_size bytes of code cache
 * or all of it for 0), flat segments CS = 0x08 and the others 0x10, ESP = TVM_STACK,
 * EIP = TVM_CODE, CPL 0. Fails the test if the VM cannot be created. */
void tvm_create_cache(struct vm *vm, uint32_t cache_size);
static inline void tvm_create(struct vm *vm) { tvm_create_cache(vm, 0); }

/* Copy bytes to guest physical memory (fails the test if outside RAM). */
void tvm_load(struct vm *vm, uint32_t pa, const void *bytes, size_t len);
uint32_t tvm_rd32(struct vm *vm, uint32_t pa);
void tvm_wr32(struct vm *vm, uint32_t pa, uint32_t v);
void tvm_wr64(struct vm *vm, uint32_t pa, uint64_t v);

/* Run from EIP eip until the VM stops. Returns the value the guest wrote to the
 * debug-exit port's status, i.e. (al << 1 | 1) & 0xff, or -1 if the VM stopped for
 * another reason (vm->stop_msg says why). vm->stop is cleared first, so a VM can be
 * run again. */
int tvm_run(struct vm *vm, uint32_t eip);
/* tvm_load() at TVM_CODE, then tvm_run() from there. */
int tvm_run_code(struct vm *vm, const void *code, size_t len);

/* The status a guest that ends with "out 0xf4, al" gives for this AL. */
#define TVM_EXIT(al)    ((int)((((unsigned)(al) << 1) | 1) & 0xff))

/* Fail unless the last run ended at the debug exit with this AL. */
#define tvm_assert_exit(vm, al)                                                       \
	ck_assert_msg((vm)->stop == STOP_DEBUG_EXIT && (vm)->exit_status == TVM_EXIT(al), \
		      "guest stopped with stop=%d status=%d (want debug exit with al=%#x): %s", \
		      (int)(vm)->stop, (vm)->exit_status, (unsigned)(al), (vm)->stop_msg)

/* Sum of the monitor exits of every reason. */
uint64_t tvm_exits(const struct vm *vm);

/* A GDT at gdt_pa with a flat code (0x08) and data (0x10) descriptor, and an IDT at
 * idt_pa with 32 not-present entries; loads GDTR and IDTR. */
void tvm_setup_tables(struct vm *vm, uint32_t gdt_pa, uint32_t idt_pa);
/* A 32-bit ring-0 interrupt gate for vector to CS 0x08:handler in the IDT at idt_pa. */
void tvm_set_gate(struct vm *vm, uint32_t idt_pa, int vector, uint32_t handler);

/* Protection of the guest mapping of guest physical page ppn, from /proc/self/maps:
 * 1 writable, 0 read-only, -1 not found. */
int tvm_guest_page_writable(uint32_t ppn);

#endif
