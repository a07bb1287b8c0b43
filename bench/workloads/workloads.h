/*
 * workloads.h - the compute workloads shared by the guest and the native harness.
 *
 * Every workload is plain freestanding C (no libc, no 64-bit division: the guest has no
 * libgcc) compiled once, with the same flags, into objects linked into both harnesses.
 * Each returns a checksum of its result; the harnesses print it so runs under
 * different engines can be compared.
 *
 * Sizes are fixed at compile time: BENCH_SMALL=1 selects a small variant (for the
 * ctest smoke test and run.sh --quick), otherwise the full size (~0.2-1 s natively).
 */
#ifndef BENCH_WORKLOADS_H
#define BENCH_WORKLOADS_H

#include <stdint.h>

#ifndef BENCH_SMALL
#define BENCH_SMALL 0
#endif

/* Full size or small size. */
#define BENCH_SIZE(full, small) (BENCH_SMALL ? (small) : (full))

#define BENCH_NOINLINE __attribute__((noinline))

/* X(name) for every workload, in run order. */
#define BENCH_WORKLOADS(X) X(crc32) X(sort) X(calls) X(interp)

#define BENCH_DECLARE(name) uint32_t wl_##name(void);
BENCH_WORKLOADS(BENCH_DECLARE)
#undef BENCH_DECLARE

/* The LCG every workload draws its input from (Numerical Recipes constants). */
static inline uint32_t bench_lcg(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return *state;
}

#endif
