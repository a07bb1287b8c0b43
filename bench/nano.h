/*
 * nano.h - the guest-level nanobenchmarks of Adams & Agesen (ASPLOS 2006), shared by the
 * guest (nano_guest.c) and the native program (nano_native.c). See bench/README.md.
 *
 * Interface: NANO_OPS(X) lists the operations as X(name, iterations, ring, native): the
 * loop nano_<name>(n) in nano_loops.S runs the operation n times, the guest runs it at
 * CPL `ring`, and `native` says whether a Linux program can run it at all. nano_empty(n)
 * is the same loop with an empty body: the baseline subtracted from every operation.
 * Both harnesses print, per operation,
 *
 *     NANO <name> <host cycles per operation, one decimal>   (or `-`: no native form)
 *
 * then `NANO-DONE`. nano.sh reads the names from the NANO_OPS lines below.
 */
#ifndef NANO_H
#define NANO_H

#include <stdint.h>

/* Iterations for the full size: each op takes ~0.1-0.3 s under QEMU TCG. The small
 * size (NANO_SMALL=1 in the guest, --small natively) divides them by NANO_SMALL_DIV. */
#define NANO_OPS(X)                                                               \
	X(syscall,   500000,   3, 1)   /* INT 0x80 to a ring-0 IRET; native: getpid */ \
	X(in,        4000000,  0, 0)   /* IN AL, 0x21: the master 8259's mask register */ \
	X(clisti,    8000000,  0, 0)   /* CLI; STI */                                  \
	X(pushfpopf, 10000000, 0, 1)   /* PUSHF; POPF */                               \
	X(callret,   30000000, 0, 1)   /* CALL to a RET */                             \
	X(divzero,   400000,   3, 1)   /* DIV by 0: #DE to a handler that skips it */
#define NANO_SMALL_DIV 100

#define NANO_DECL(name, n, ring, native) void nano_##name(uint32_t iterations);
NANO_OPS(NANO_DECL)
#undef NANO_DECL
void nano_empty(uint32_t iterations);

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
