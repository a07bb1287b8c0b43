/*
 * rdtscp.c - RDTSCP and IA32_TSC_AUX (SDM Vol. 2, RDTSCP; Vol. 4, IA32_TSC_AUX): the
 * virtual CPU lists RDTSCP in CPUID.80000001H:EDX[27]; RDTSCP returns the TSC as RDTSC
 * reads it and TSC_AUX in ECX; TSC_AUX keeps 32 bits and a write setting a reserved
 * high bit is #GP(0). QEMU's default CPU model has no RDTSCP: the checks print SKIP
 * there (kvm-unit-tests' tsc test is the same check against QEMU's "max" CPU).
 */
#include "guest.h"

#define MSR_TSC_AUX  0xc0000103u
#define EXT1_RDTSCP  (1u << 27)

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint64_t rdtscp(uint32_t *aux)
{
	uint32_t lo, hi, c;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(c));
	*aux = c;
	return (uint64_t)hi << 32 | lo;
}

void test_main(void)
{
	guest_init();
	idt_init();
	uint32_t r[4];
	cpuid(0x80000001, r);
	if (under_qemu() && !(r[3] & EXT1_RDTSCP)) {
		printf("SKIP rdtscp-cpuid qemu32-has-no-rdtscp\n");
		printf("SKIP rdtscp-aux qemu32-has-no-rdtscp\n");
		printf("SKIP rdtscp-tsc-between-rdtscs qemu32-has-no-rdtscp\n");
		printf("SKIP tsc-aux-reserved-bits-gp qemu32-has-no-rdtscp\n");
		printf("SKIP tsc-aux-keeps-value qemu32-has-no-rdtscp\n");
		pass("rdtsc-still-runs");
		guest_finish();
	}
	check_eq("rdtscp-cpuid", r[3] & EXT1_RDTSCP, EXT1_RDTSCP);
	wrmsr(MSR_TSC_AUX, 0x12345678);
	uint32_t aux = 0;
	uint64_t t0 = rdtsc();
	uint64_t t1 = rdtscp(&aux);
	uint64_t t2 = rdtsc();
	check_eq("rdtscp-aux", aux, 0x12345678);
	check(t0 <= t1 && t1 <= t2, "rdtscp-tsc-between-rdtscs");
	EXPECT_EXC("tsc-aux-reserved-bits-gp", 13, 0, wrmsr(MSR_TSC_AUX, 1ull << 32));
	check_eq("tsc-aux-keeps-value", (uint32_t)rdmsr(MSR_TSC_AUX), 0x12345678);
	pass("rdtsc-still-runs");
	guest_finish();
}
