/*
 * privileged.c - ring-0-only instructions with their architectural results: CLI/STI,
 * IN/OUT (COM1 scratch and LSR, string I/O), CPUID, MOV to/from CR0/CR2/CR3/CR4 and
 * DR0-DR7 (including the faults for invalid values), LMSW/CLTS, LGDT/LIDT, WBINVD,
 * INVLPG, RDTSC and RDMSR/WRMSR.
 */
#include "guest.h"

#define COM1 0x3f8
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_TSC 0x10
#define MSR_TSC_ADJUST 0x3b

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void test_cli_sti(void)
{
	uint32_t a, b, c;
	__asm__ volatile("stc; cli; pushfl; popl %0; sti; pushfl; popl %1; cli; pushfl; popl %2"
			 : "=r"(a), "=r"(b), "=r"(c) :: "cc");
	check((a & EFL_IF) == 0, "cli-clears-if");
	check(b & EFL_IF, "sti-sets-if");
	check((c & EFL_IF) == 0, "cli-again");
	check_eq("cli-sti-leave-other-flags", a & ~EFL_IF, b & ~EFL_IF);
	check(a & EFL_CF, "cli-sti-keep-cf");
}

static void test_io(void)
{
	outb(COM1 + 7, 0x5a);
	check_eq("out-in-scratch-5a", inb(COM1 + 7), 0x5a);
	outb(COM1 + 7, 0xa5);
	check_eq("out-in-scratch-a5", inb(COM1 + 7), 0xa5);

	int polls = 0;
	uint8_t lsr;
	while (!((lsr = inb(COM1 + 5)) & 0x20) && ++polls < 100000)
		;
	check(lsr & 0x20, "lsr-thr-empty");
	check_eq("lsr-no-data-no-errors", lsr & 0x9f, 0);

	/* String I/O: outsb writes each byte in turn; insb reads the port each time. */
	static const uint8_t out[3] = { 0x11, 0x22, 0x33 };
	uint8_t in[5] = { 0, 0, 0, 0, 0x77 };
	const void *si = out;
	void *di = in;
	uint32_t n = 3;
	__asm__ volatile("rep outsb" : "+S"(si), "+c"(n) : "d"(COM1 + 7) : "memory");
	check_eq("rep-outsb-last-byte", inb(COM1 + 7), 0x33);
	check_eq("rep-outsb-esi", (uint32_t)si, (uint32_t)(out + 3));
	n = 4;
	__asm__ volatile("rep insb" : "+D"(di), "+c"(n) : "d"(COM1 + 7) : "memory");
	check(in[0] == 0x33 && in[1] == 0x33 && in[2] == 0x33 && in[3] == 0x33 && in[4] == 0x77,
	      "rep-insb");
	check_eq("rep-insb-edi-ecx", (uint32_t)di - (uint32_t)in + n, 4);
}

static void test_cpuid(void)
{
	uint32_t r[4], v[4];
	char vendor[13];
	int printable = 1;
	cpuid(0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = 0;
	for (int i = 0; i < 12; i++)
		printable &= vendor[i] >= 0x20 && vendor[i] < 0x7f;
	printf("cpuid vendor %s max leaf %u\n", vendor, r[0]);
	check(printable, "cpuid-vendor-printable");
	check(r[0] >= 1, "cpuid-max-leaf");
	/* One virtual CPU on every host (cpuid.c): QEMU's default qemu32 model's vendor and
	 * signature, family 6 model 6 stepping 3, whatever the host is. */
	check(memcmp(vendor, "GenuineIntel", 12) == 0, "cpuid-vendor-genuineintel");
	cpuid(1, v);
	check(v[0] != 0, "cpuid-1-signature");
	check_eq("cpuid-1-family-6-model-6", v[0] & 0x0fff3ff0, 0x660);
	check_eq("cpuid-1-fpu-tsc-msr", v[3] & 0x31, 0x31);
}

static void test_cr(void)
{
	uint32_t cr0 = read_cr0(), cr3, cr4 = read_cr4(), v;

	check_eq("cr0-pe-et-no-pg", cr0 & 0x80000011, 0x11);
	write_cr0(cr0 | 0x2);
	v = read_cr0();
	write_cr0(cr0 & ~0x2);
	check_eq("cr0-set-mp", v, cr0 | 0x2);
	check_eq("cr0-clear-mp", read_cr0(), cr0 & ~0x2);
	write_cr0(cr0);

	/* LMSW loads PE/MP/EM/TS only and cannot clear PE. */
	__asm__ volatile("lmsw %w0" :: "r"(0xfffa));
	v = read_cr0();
	__asm__ volatile("clts");
	check_eq("lmsw-low-bits-only", v, (cr0 & ~0xe) | 0xa);
	__asm__ volatile("lmsw %w0" :: "r"(0));
	v = read_cr0();
	check_eq("lmsw-keeps-pe", v, cr0 & ~0xe);
	check_eq("clts", v & 8, 0);
	write_cr0(cr0);

	__asm__ volatile("mov %0, %%cr2" :: "r"(0xdeadbeef));
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	check_eq("cr2-roundtrip", v, 0xdeadbeef);

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	__asm__ volatile("mov %0, %%cr3" :: "r"(0x00345000));
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	check_eq("cr3-roundtrip", v, 0x00345000);
	__asm__ volatile("mov %0, %%cr3" :: "r"(0x1000));
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	check_eq("cr3-roundtrip-2", v, 0x1000);
	check_eq("cr3-paging-still-off", read_cr0() & 0x80000000, 0);
	static volatile uint32_t probe;
	probe = 0x1234abcd;
	check_eq("cr3-memory-still-flat", *(volatile uint32_t *)&probe, 0x1234abcd);
	__asm__ volatile("mov %0, %%cr3" :: "r"(cr3));

	write_cr4(cr4 ^ 0x200);
	v = read_cr4();
	write_cr4(cr4);
	check_eq("cr4-toggle-osfxsr", v, cr4 ^ 0x200);
	check_eq("cr4-restore", read_cr4(), cr4);

	EXPECT_EXC("mov-from-cr1-ud", 6, 0, __asm__ volatile("mov %%cr1, %0" : "=r"(v)));
	EXPECT_EXC("mov-to-cr5-ud", 6, 0, __asm__ volatile("mov %0, %%cr5" :: "r"(0)));
}

static void test_dr(void)
{
	uint32_t v0, v3, v7;
	__asm__ volatile("mov %0, %%dr0" :: "r"(0x00123456));
	__asm__ volatile("mov %0, %%dr3" :: "r"(0xfedcba98));
	__asm__ volatile("mov %0, %%dr7" :: "r"(0x400));
	__asm__ volatile("mov %%dr0, %0; mov %%dr3, %1; mov %%dr7, %2" : "=r"(v0), "=r"(v3), "=r"(v7));
	check_eq("dr0-roundtrip", v0, 0x00123456);
	check_eq("dr3-roundtrip", v3, 0xfedcba98);
	check_eq("dr7-roundtrip", v7, 0x400);
}

static void test_tables(void)
{
	struct dtr g, i, a = { 0x1234, 0x00abc000 }, b = { 0x0567, 0x00def000 }, r;
	__asm__ volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));
	__asm__ volatile("lgdt %1; sgdt %0; lgdt %2" : "=m"(r) : "m"(a), "m"(g));
	check(r.base == a.base && r.limit == a.limit, "lgdt-sgdt-roundtrip");
	__asm__ volatile("lidt %1; sidt %0; lidt %2" : "=m"(r) : "m"(b), "m"(i));
	check(r.base == b.base && r.limit == b.limit, "lidt-sidt-roundtrip");
	a.base = 0x12abc000;
	__asm__ volatile("lgdtw %1; sgdt %0; lgdt %2" : "=m"(r) : "m"(a), "m"(g));
	check_eq("lgdtw-loads-24-bit-base", r.base, 0x00abc000);
	__asm__ volatile("sgdt %0; sidt %1" : "=m"(a), "=m"(b));
	check(a.base == g.base && a.limit == g.limit && b.base == i.base && b.limit == i.limit,
	      "gdtr-idtr-restored");
}

static void test_misc(void)
{
	volatile uint32_t marker = 0;
	__asm__ volatile("wbinvd" ::: "memory");
	marker = 1;
	check_eq("wbinvd-continues", marker, 1);
	__asm__ volatile("invlpg (%0)" :: "r"(0x200000) : "memory");
	marker = 2;
	check_eq("invlpg-continues", marker, 2);

	uint64_t t0 = rdtsc();
	for (volatile int k = 0; k < 1000; k++)
		;
	uint64_t t1 = rdtsc();
	check(t1 > t0, "rdtsc-increases");

	uint64_t cs = rdmsr(MSR_SYSENTER_CS), esp = rdmsr(MSR_SYSENTER_ESP), eip = rdmsr(MSR_SYSENTER_EIP);
	wrmsr(MSR_SYSENTER_CS, 0x1234);
	check_eq("sysenter-cs-roundtrip", (uint32_t)rdmsr(MSR_SYSENTER_CS), 0x1234);
	wrmsr(MSR_SYSENTER_CS, SEL_CODE);
	check_eq("sysenter-cs-roundtrip-2", (uint32_t)rdmsr(MSR_SYSENTER_CS), SEL_CODE);
	wrmsr(MSR_SYSENTER_ESP, 0x89abcdef);
	wrmsr(MSR_SYSENTER_EIP, 0x01234567);
	check_eq("sysenter-esp-roundtrip", (uint32_t)rdmsr(MSR_SYSENTER_ESP), 0x89abcdef);
	check_eq("sysenter-eip-roundtrip", (uint32_t)rdmsr(MSR_SYSENTER_EIP), 0x01234567);
	wrmsr(MSR_SYSENTER_CS, cs);
	wrmsr(MSR_SYSENTER_ESP, esp);
	wrmsr(MSR_SYSENTER_EIP, eip);
	check_eq("sysenter-cs-restored", (uint32_t)rdmsr(MSR_SYSENTER_CS), (uint32_t)cs);
}

/* IA32_TSC_ADJUST (SDM Vol. 3, 18.17.3): a write moves the TSC by the change; a write to
 * the TSC moves TSC_ADJUST by the same amount. QEMU's qemu32 model has no leaf 7. */
static void test_tsc_adjust(void)
{
	uint32_t r[4];
	cpuid(0, r);
	uint32_t has = 0;
	if (r[0] >= 7) {
		__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
				 : "a"(7), "c"(0));
		has = r[1] & 2;
	}
	static const char *const names[] = {
		"cpuid-7-tsc-adjust", "tsc-adjust-reads-back", "tsc-adjust-write-moves-tsc",
		"tsc-adjust-restored", "tsc-write-moves-tsc-adjust", "tsc-back-after-adjust",
	};
	if (!has && under_qemu()) {
		for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			printf("SKIP %s QEMU's qemu32 CPU has no CPUID leaf 7\n", names[k]);
		return;
	}
	check(has, "cpuid-7-tsc-adjust");
	if (!has)
		return;
	const uint64_t step = 1ull << 40;
	uint64_t a0 = rdmsr(MSR_TSC_ADJUST), t0 = rdtsc();
	wrmsr(MSR_TSC_ADJUST, a0 + step);
	uint64_t t1 = rdtsc();
	check_eq("tsc-adjust-reads-back", (uint32_t)((rdmsr(MSR_TSC_ADJUST) - a0) >> 32), 1u << 8);
	check(t1 - t0 >= step && t1 - t0 < step + (1ull << 36), "tsc-adjust-write-moves-tsc");
	wrmsr(MSR_TSC_ADJUST, a0);
	uint64_t t2 = rdtsc();
	check(t2 > t0 && t2 - t0 < (1ull << 36), "tsc-adjust-restored");
	wrmsr(MSR_TSC, t2 + step);
	uint64_t d = rdmsr(MSR_TSC_ADJUST) - a0;
	check(d >= step - (1ull << 36) && d <= step, "tsc-write-moves-tsc-adjust");
	wrmsr(MSR_TSC_ADJUST, a0);
	uint64_t t3 = rdtsc();
	check(t3 > t2 && t3 - t2 < (1ull << 36), "tsc-back-after-adjust");
}

void test_main(void)
{
	guest_init();
	test_cli_sti();
	test_io();
	test_cpuid();
	test_cr();
	test_dr();
	test_tables();
	test_misc();
	test_tsc_adjust();
}
