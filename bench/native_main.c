/*
 * native_main.c - the native 32-bit Linux harness: the same workload objects as the
 * guest, timed with RDTSC, printing the same lines as guest_main.c:
 *
 *     BENCH <name> <cycles: 16 hex digits> <checksum: 8 hex digits>
 */
#include <stdio.h>
#include "workloads.h"

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

static const struct {
	const char *name;
	uint32_t (*fn)(void);
} workloads[] = {
#define BENCH_ENTRY(n) { #n, wl_##n },
	BENCH_WORKLOADS(BENCH_ENTRY)
#undef BENCH_ENTRY
};

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("BENCH-START native size=%s\n", BENCH_SMALL ? "small" : "full");
	for (unsigned i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		uint64_t t0 = rdtsc();
		uint32_t sum = workloads[i].fn();
		uint64_t t1 = rdtsc();
		uint64_t d = t1 - t0;
		printf("BENCH %s %08x%08x %08x\n", workloads[i].name,
		       (unsigned)(d >> 32), (unsigned)d, (unsigned)sum);
	}
	printf("BENCH-DONE\n");
	return 0;
}
