/*
 * insnclass.h - what the rewriter knows of single x86 instructions, internal to
 * rewriter/: prefixes, the kind of translation each instruction needs (classify), the
 * 32-bit form of 16-bit code (normalize16). The public predicates (rw_is_fpu,
 * rw_is_sse, rw_always_ud, rw_prefix_len, rw_is_ident, branch_target) are declared in
 * rewriter.h.
 */
#ifndef TRAPEZE_INSNCLASS_H
#define TRAPEZE_INSNCLASS_H

#include <stdbool.h>
#include <stdint.h>

enum kind {
	K_IDENT,
	K_JCC,          /* jcc rel8/rel32 */
	K_LOOP,         /* loop/loope/loopne/jecxz rel8 */
	K_JMP,          /* jmp rel */
	K_CALL,         /* call rel32 */
	K_CALL_IND,     /* call r/m32 */
	K_JMP_IND,      /* jmp r/m32 */
	K_RET,          /* ret [imm16] */
	K_SREG_READ,    /* mov r32/r16, sreg */
	K_SREG_PUSH,    /* push sreg */
	K_SREG_LOAD,    /* mov es/ds, r16; pop es/ds: inline when the same descriptor;
			   mov fs, r/m16; pop fs: inline when FS's previous value;
			   mov gs, r/m16; pop gs: inline when a recent value (VC_GSC) */
	K_CLI,          /* cli, where CPL <= IOPL */
	K_STI,          /* sti, where CPL <= IOPL */
	K_RDTSC,        /* rdtsc, natively where the mode allows */
	K_RDTSCP,       /* rdtscp: the same, with the guest's TSC_AUX in ECX */
	K_PUSHF,        /* pushfd */
	K_POPF,         /* popfd */
	K_CR2_READ,     /* mov r32, cr2: in line at CPL 0 */
	K_SERIALIZE,    /* serialize: a host MFENCE */
	K_SYSENTER,     /* sysenter, sysexit, int n, iret: in line where the monitor */
	K_SYSEXIT,      /* prepared them (monitor/kentry.c) */
	K_INT,
	K_IRET,
	K_CALLOUT,      /* the monitor emulates it */
};

/* Is v among the npfx prefixes at p? */
bool has_prefix(const uint8_t *p, int npfx, uint8_t v);

/* The kind of the instruction b (npfx prefixes, len bytes, 32-bit code). */
enum kind classify(const uint8_t *b, int npfx, int len);

/* The 32-bit-code form of the 16-bit-code instruction b (len bytes) into out (room for
 * 17): its length, which may pass 15 (then it cannot be translated). */
int normalize16(const uint8_t *b, int len, uint8_t *out);

#endif
