/*
 * nano.h - the guest-level nanobenchmarks of Adams & Agesen (ASPLOS 2006), shared by the
 * guest (nano_guest.c) and the native program (nano_native.c). See bench/README.md.
 *
 * Interface: NANO_OPS(X) lists the operations as X(name, iterations, ring, native, round):
 * the loop nano_<name>(n) in nano_loops.S runs the operation n times, the guest runs it at
 * CPL `ring`, and `native` says whether a Linux program can run it at all. An op is timed
 * in rounds of `round` iterations (0: one round of all of them); before each round the
 * harness prepares it outside the timing (nano_paging.c in the guest: fresh PTEs and a
 * CR3 load; natively a fresh mmap), and times the empty loop nano_empty(k), the
 * baseline, right before the op's loop. The paging loops take their addresses from the
 * nano_arg_* words below, which the harness sets. Both harnesses print, per operation,
 *
 *     NANO <name> <host cycles per operation, one decimal>   (or `-`: no native form)
 *
 * then `NANO-DONE`. nano.sh reads the names from the NANO_OPS lines below.
 */
#ifndef NANO_H
#define NANO_H

#include <stdint.h>

/* Iterations for the full size: each op takes ~0.1-0.3 s under QEMU TCG (the paging
 * ops: at most ~1 s under trapeze). The small size (NANO_SMALL=1 in the guest, --small
 * natively) divides them by NANO_SMALL_DIV. */
#define NANO_OPS(X)                                                                     \
	X(syscall,   500000,   3, 1, 0)    /* INT 0x80 to a ring-0 IRET; native: getpid */   \
	X(sysenter,  500000,   3, 0, 0)    /* SYSENTER to a ring-0 SYSEXIT (Linux's way) */  \
	X(in,        4000000,  0, 0, 0)    /* IN AL, 0x21: the master 8259's mask register */ \
	X(clisti,    8000000,  0, 0, 0)    /* CLI; STI */                                    \
	X(pushfpopf, 10000000, 0, 1, 0)    /* PUSHF; POPF */                                 \
	X(callret,   30000000, 0, 1, 0)    /* CALL to a RET */                               \
	X(callpoly,  4000000,  0, 1, 0)    /* 8 CALLs from 8 sites to one RET */             \
	X(pushseg,   4000000,  0, 1, 0)    /* PUSH DS; POP EAX */                            \
	X(movseg,    4000000,  0, 1, 0)    /* MOV EAX, DS; MOV DS, EAX: the same selector */  \
	X(divzero,   400000,   3, 1, 0)    /* DIV by 0: #DE to a handler that skips it */    \
	X(pgfault,   40960,    0, 1, 4096) /* write to a not-present page: #PF, PTE, IRET */ \
	X(ptemod,    20000,    0, 0, 0)    /* PTE to the other frame; INVLPG; read */        \
	X(ctxsw,     20000,    0, 0, 0)    /* MOV CR3 to the other address space; read */    \
	X(touch64m,  16384,    0, 1, 16384) /* first write to each page of 64 MiB */
#define NANO_SMALL_DIV 100

#define NANO_ENUM(name, n, ring, native, round) NANO_OP_##name,
enum nano_op { NANO_OPS(NANO_ENUM) NANO_NOPS };
#undef NANO_ENUM

#define NANO_DECL(name, n, ring, native, round) void nano_##name(uint32_t iterations);
NANO_OPS(NANO_DECL)
#undef NANO_DECL
void nano_empty(uint32_t iterations);

/* The paging loops' operands (nano_loops.S), set by the harness before each round:
 *   nano_arg_base  pgfault, touch64m: the first page to write (then one per 4 KiB)
 *   nano_arg_lin   ptemod, ctxsw: the linear page read after each INVLPG or CR3 load
 *   nano_arg_pte   ptemod: the address of nano_arg_lin's PTE
 *   nano_arg_cr3   ctxsw: the first CR3 loaded
 *   nano_arg_xor   what flips between the two states: ptemod the PTE (frame A ^ frame
 *                  B), ctxsw CR3 (directory A ^ directory B)
 *   nano_arg_sum   ptemod, ctxsw (out): the sum of the words read, for the check */
extern volatile uint32_t nano_arg_base, nano_arg_lin, nano_arg_pte, nano_arg_xor,
	nano_arg_cr3, nano_arg_sum;

static inline uint64_t nano_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

/* (op - base) / n in tenths, rounded, as sign and magnitude. Freestanding: 64/32 division
 * by two DIVs (no libgcc), the high quotient first so the second cannot overflow. */
static inline uint32_t nano_tenths(uint64_t op, uint64_t base, uint32_t n, int *neg)
{
	uint64_t d = op >= base ? op - base : base - op;
	uint32_t hi, lo, qhi, qlo, r;

	*neg = op < base;
	d = d * 10 + n / 2;
	hi = (uint32_t)(d >> 32);
	lo = (uint32_t)d;
	__asm__("divl %4" : "=a"(qhi), "=d"(r) : "a"(hi), "d"(0), "rm"(n));
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(n));
	return qhi ? 0xffffffffu : qlo;     /* > 2^32 tenths of a cycle: saturate */
}

#endif
