/*
 * insn.h - the callout emulator's internal interface between its two halves:
 * emulate.c (dispatch, control transfers, I/O, the stack, learnt sites) and sysinsn.c
 * (descriptor tables, control and debug registers, MSRs, SYSENTER/SYSEXIT). The
 * decoded instruction, its register and operand helpers and the result type are the
 * emulators' shared front end (decode.h).
 *
 * The handlers return an emu_result (EMU_NEXT, EMU_JUMPED or EMU_FAULT; the callout
 * emulator never answers EMU_NOT_MINE: it stops the VM for what it does not know).
 */
#ifndef TRAPEZE_INSN_H
#define TRAPEZE_INSN_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"

#define REGS(i) ((i)->regs)

/* emulate.c */
void set_zf(struct insn *i, bool z);
enum emu_result gp0(struct insn *i);            /* raises #GP(0) */
enum emu_result ud(struct insn *i);             /* raises #UD */
enum emu_result unsupported(struct insn *i, const char *what);  /* stops the VM */
bool privileged(const struct insn *i);          /* CPL 0 */

/* sysinsn.c */
enum emu_result group6(struct insn *i);         /* 0F 00: SLDT STR LLDT LTR VERR VERW */
enum emu_result group7(struct insn *i);         /* 0F 01: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG */
enum emu_result do_lar_lsl(struct insn *i, bool lsl);
enum emu_result do_verr_verw(struct insn *i, bool write);
enum emu_result mov_cr(struct insn *i, bool to_cr);
enum emu_result mov_dr(struct insn *i, bool to_dr);
enum emu_result do_msr(struct insn *i, bool write);
enum emu_result do_sysenter(struct insn *i);
enum emu_result do_sysexit(struct insn *i);
/* The TSC the guest sees. */
uint64_t guest_tsc(struct cpu *c);

#endif
