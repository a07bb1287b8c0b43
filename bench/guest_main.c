/*
 * guest_main.c - the multiboot guest harness: runs every workload once, timed with
 * RDTSC, and prints one line per workload on COM1:
 *
 *     BENCH <name> <cycles: 16 hex digits> <checksum: 8 hex digits>
 *
 * then `BENCH-DONE`. Exits through port 0xf4 with 0 (process status 1 under QEMU and
 * trapeze). The native harness (native_main.c) prints the same format.
 */
#include "guest.h"
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

void test_main(void)
{
	guest_init();
	printf("BENCH-START guest size=%s\n", BENCH_SMALL ? "small" : "full");
	for (unsigned i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		uint64_t t0 = rdtsc();
		uint32_t sum = workloads[i].fn();
		uint64_t t1 = rdtsc();
		uint64_t d = t1 - t0;
		printf("BENCH %s %08x%08x %08x\n", workloads[i].name,
		       (uint32_t)(d >> 32), (uint32_t)d, sum);
	}
	printf("BENCH-DONE\n");
}
