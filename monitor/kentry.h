/*
 * kentry.h - system calls in translated code (SYSENTER/SYSEXIT, INT n/IRET): what the
 * monitor prepares for them and how it catches up (kentry.c; the emitted side is
 * rewriter/mangle_kentry.c).
 *
 * Interface: kentry_prepare() before each entry into translated code, kentry_catch_up()
 * after each return from it, kentry_invalidate() whenever a segment shadow, the lookup
 * tables' keys or the segment pool change; kentry_want() from the emulated SYSENTER
 * and SYSEXIT, kentry_want_int() and kentry_want_iret() from an emulated INT n from
 * CPL 3 to CPL 0 and IRET from CPL 0 to CPL 3 (the guest uses them: worth preparing).
 */
#ifndef TRAPEZE_KENTRY_H
#define TRAPEZE_KENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "../arch/x86.h"

struct vm;

/* What the prepared transitions were made for: they hold while all of it does. */
struct kentry {
	bool valid;                     /* the vCPU block's K fields say what holds now */
	bool wanted;                    /* the guest ran one the slow way since */
	uint32_t mode[2];               /* the mode words at CPL 0 and CPL 3 */
	uint32_t cr0, cr4, vflags, sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc_base;
	bool dbg_armed, nmi_blocked;
	struct dtr gdtr, idtr;
	struct seg tr;
	bool int_known;                 /* INT n ran from CPL 3: its vector */
	uint8_t int_vec;
	uint16_t iret_cs, iret_ss;      /* the CS and SS an IRET to CPL 3 loaded last, or 0 */
	struct seg int_seg[2], iret_seg[2];     /* the CS and SS each installs */
	int iret_table;                 /* IRET's target table, or -1: not prepared */
	uint32_t exit_ok[3];            /* the flags compute() set (VC_K_EXIT_OK) */
	uint32_t seen;                  /* VC_K_COUNT when last caught up */
	uint64_t transitions;           /* in line, counted at catch-up (--stats) */
	uint64_t used_at;               /* transitions when the sets were made */
	uint64_t made;                  /* times the sets were made (--stats) */
};

void kentry_prepare(struct vm *vm, uint32_t mode);
void kentry_catch_up(struct vm *vm);
void kentry_invalidate(struct vm *vm);
void kentry_want(struct vm *vm);
void kentry_want_int(struct vm *vm, int vector);
void kentry_want_iret(struct vm *vm);
/* Whether translated code cleared a flag the monitor set (an in-line GS load that
 * changed the CPL-3 mode word: gsload.c). */
bool kentry_flags_cleared(const struct vm *vm);

/* The flat CS and SS that SYSENTER (cpl 0) and SYSEXIT (cpl 3) load from
 * IA32_SYSENTER_CS (SDM Vol. 2B, SYSENTER and SYSEXIT). */
void kentry_flat_segs(uint32_t sysenter_cs, int cpl, struct seg *cs, struct seg *ss);

#endif
