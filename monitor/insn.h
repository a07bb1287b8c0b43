/*
 * insn.h - one decoded guest instruction as the callout emulator sees it, and the
 * helpers its two halves share: emulate.c (dispatch, control transfers, I/O, the
 * stack, learnt sites) and sysinsn.c (descriptor tables, control and debug registers,
 * MSRs, SYSENTER/SYSEXIT). Internal to those two files.
 *
 * Helpers returning int give 0 (done), or -1 after raising a guest exception; the
 * do_* and group handlers return as emulate() does (0 = EIP to next, 1 = EIP set).
 */
#ifndef TRAPEZE_INSN_H
#define TRAPEZE_INSN_H

#include <stdbool.h>
#include <stdint.h>

#include <capstone/capstone.h>

struct vm;
struct cpu;

struct insn {
	struct vm *vm;
	struct cpu *c;
	const cs_x86 *x;
	const uint8_t *b;
	const uint8_t *op;      /* first opcode byte */
	int npfx, len;
	uint8_t modrm;
	int mod, reg, rm;
	bool o16, a16, rep;
	int seg;                /* segment override, or -1 */
	uint32_t next;
};

#define REGS(i) ((i)->c->sh->regs)

/* emulate.c */
uint32_t gpr_read(struct insn *i, int r, int size);
void gpr_write(struct insn *i, int r, int size, uint32_t v);
/* The memory operand's segment register and offset. */
void mem_operand(struct insn *i, int *sr, uint32_t *off);
/* The r/m operand: register or memory (through the guest's segments). */
int rm_read(struct insn *i, int size, uint32_t *v);
int rm_write(struct insn *i, int size, uint32_t v);
void set_zf(struct insn *i, bool z);
int gp0(struct insn *i);                /* #GP(0), returns -1 */
int ud(struct insn *i);                 /* #UD, returns -1 */
int unsupported(struct insn *i, const char *what);     /* stops the VM, returns -1 */
bool privileged(struct insn *i);        /* CPL 0 */

/* sysinsn.c */
int group6(struct insn *i);             /* 0F 00: SLDT STR LLDT LTR VERR VERW */
int group7(struct insn *i);             /* 0F 01: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG */
int do_lar_lsl(struct insn *i, bool lsl);
int do_verr_verw(struct insn *i, bool write);
int mov_cr(struct insn *i, bool to_cr);
int mov_dr(struct insn *i, bool to_dr);
int do_msr(struct insn *i, bool write);
int do_sysenter(struct insn *i);
int do_sysexit(struct insn *i);
/* The TSC the guest sees. */
uint64_t guest_tsc(struct cpu *c);

#endif
