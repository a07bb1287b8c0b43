/*
 * gdbregs.h - the registers the gdb stub shows (gdbstub.c): a target description and
 * each register's bytes, read from and written to the vCPU.
 *
 * gdb's numbering follows the description: gdb's i386 core feature (general
 * registers, EIP, EFLAGS, segment selectors, x87 from the FXSAVE image) and SSE
 * feature, then CR0, CR2, CR3 and CR4 in a feature of trapeze's. The x87/SSE state is
 * the vCPU block's image: the caller saves the live state there first (fpu_save).
 */
#ifndef TRAPEZE_GDBREGS_H
#define TRAPEZE_GDBREGS_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* gdb's register numbers: 0-7 the general registers (EAX, ECX, EDX, EBX, ESP, EBP,
 * ESI, EDI), then in the order of the target description. */
enum {
	GDB_REG_EIP = 8, GDB_REG_EFLAGS,
	GDB_REG_CS, GDB_REG_SS, GDB_REG_DS, GDB_REG_ES, GDB_REG_FS, GDB_REG_GS,
	GDB_REG_ST0,                            /* .. ST7 */
	GDB_REG_FCTRL = GDB_REG_ST0 + 8, GDB_REG_FSTAT, GDB_REG_FTAG, GDB_REG_FISEG,
	GDB_REG_FIOFF, GDB_REG_FOSEG, GDB_REG_FOOFF, GDB_REG_FOP,
	GDB_REG_XMM0,                           /* .. XMM7 */
	GDB_REG_MXCSR = GDB_REG_XMM0 + 8,
	GDB_REG_CR0, GDB_REG_CR2, GDB_REG_CR3, GDB_REG_CR4,
	GDB_REG_COUNT
};

/* The target description (qXfer:features:read:target.xml). */
extern const char gdb_target_xml[];
extern const size_t gdb_target_xml_len;

/* Register n's size in bytes, or -1 if there is no such register. */
int gdb_reg_size(int n);
/* Register n's bytes (little-endian) into out; its size, or -1. */
int gdb_reg_get(struct vm *vm, int n, uint8_t *out);
/* Set register n from in; -1 if refused (a segment or control register may only be
 * "set" to the value it has: loading one has effects the stub does not emulate). */
int gdb_reg_set(struct vm *vm, int n, const uint8_t *in);

#endif
