/*
 * cpu_model_insns.c - instructions whose meaning depends on what CPUID lists, run as
 * the virtual CPU lists them (monitor/cpuid.c: no MOVBE, no BMI1, no ABM) whatever the
 * host has: MOVBE raises #UD, and F3 0F BC / F3 0F BD (TZCNT and LZCNT where those
 * exist) are BSF and BSR with the REP prefix ignored - the `rep bsf` GCC and Linux
 * emit for BSF. Each in a register form, on ordinary memory, and on memory trapeze
 * emulates (the top of linear space). On a host with BMI1, trapeze used to run them
 * as TZCNT/LZCNT, and MOVBE ran.
 */
#include "guest.h"
#include "paging.h"

#define TOP    0xffff0000u
#define TOP_PA (PG_FRAME_A + 0x30000)

static uint32_t mem_low[4];

/* rep bsf / rep bsr (F3 0F BC/BD) of *src into a register preset to 0x77: the result
 * and ZF in bit 31. */
__attribute__((noinline)) static uint32_t rep_bsf_m(uint32_t src)
{
	uint32_t d = 0x77;
	uint8_t z;
	__asm__ volatile(".byte 0xf3; bsfl (%2), %0\n\tsetz %1" : "+r"(d), "=q"(z) : "r"(src) : "cc", "memory");
	return d | (uint32_t)z << 31;
}
__attribute__((noinline)) static uint32_t rep_bsr_m(uint32_t src)
{
	uint32_t d = 0x77;
	uint8_t z;
	__asm__ volatile(".byte 0xf3; bsrl (%2), %0\n\tsetz %1" : "+r"(d), "=q"(z) : "r"(src) : "cc", "memory");
	return d | (uint32_t)z << 31;
}
__attribute__((noinline)) static uint32_t rep_bsf_r(uint32_t v)
{
	uint32_t d = 0x77;
	uint8_t z;
	__asm__ volatile(".byte 0xf3; bsfl %2, %0\n\tsetz %1" : "+r"(d), "=q"(z) : "r"(v) : "cc");
	return d | (uint32_t)z << 31;
}
__attribute__((noinline)) static uint32_t rep_bsr_r16(uint32_t v)
{
	uint32_t d = 0x77;
	uint8_t z;
	__asm__ volatile(".byte 0xf3; bsrw %w2, %w0\n\tsetz %1" : "+r"(d), "=q"(z) : "r"(v) : "cc");
	return d | (uint32_t)z << 31;
}
__attribute__((noinline)) static void movbe_m(uint32_t src)
{
	__asm__ volatile(".byte 0x0f, 0x38, 0xf0, 0x00" :: "a"(src) : "memory");    /* movbe (%eax), %eax */
}
__attribute__((noinline)) static void movbe_store(uint32_t dst)
{
	__asm__ volatile(".byte 0x0f, 0x38, 0xf1, 0x08" :: "a"(dst), "c"(0x11223344) : "memory");
}

/* name = where-what-k (k < 10). */
static void snprintf_name(char *name, const char *where, const char *what, unsigned k)
{
	char *p = name;
	while (*where)
		*p++ = *where++;
	*p++ = '-';
	while (*what)
		*p++ = *what++;
	*p++ = '-';
	*p++ = (char)('0' + k);
	*p = 0;
}

/* BSF/BSR where the virtual CPU has no BMI1/ABM: for 0 ZF is set and the destination
 * kept (as every CPU here does); for 1 BSF gives 0 (TZCNT too, but with ZF set) and
 * BSR 0 (LZCNT 31). */
static void bitscan_checks(const char *where, uint32_t addr, uint32_t *host)
{
	char name[64];
	static const struct { uint32_t v; uint32_t bsf, bsr; } cases[] = {
		{ 0, 0x80000077, 0x80000077 }, { 1, 0, 0 }, { 0x80000000, 31, 31 }, { 0x50, 4, 6 },
	};
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		*host = cases[k].v;
		snprintf_name(name, where, "rep-bsf", k);
		check_eq(name, rep_bsf_m(addr), cases[k].bsf);
		snprintf_name(name, where, "rep-bsr", k);
		check_eq(name, rep_bsr_m(addr), cases[k].bsr);
	}
}

void test_main(void)
{
	guest_init();
	idt_init();
	uint32_t id[4];
	cpuid(1, id);
	check_eq("cpuid-no-movbe", id[2] & (1u << 22), 0);

	check_eq("reg-rep-bsf-0", rep_bsf_r(0), 0x80000077);
	check_eq("reg-rep-bsf-1", rep_bsf_r(1), 0);
	check_eq("reg-rep-bsf-0x80", rep_bsf_r(0x80), 7);
	check_eq("reg-rep-bsr16-1", rep_bsr_r16(1), 0);
	check_eq("reg-rep-bsr16-0", rep_bsr_r16(0), 0x80000077);

	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	pg_map(pd, TOP, TOP_PA, PG_P | PG_W);
	pg_on(pd);
	bitscan_checks("low", (uint32_t)mem_low, mem_low);
	bitscan_checks("top", TOP + 0x40, (uint32_t *)(TOP_PA + 0x40));

	expect_exc("movbe-load-ud", EXC(movbe_m((uint32_t)mem_low)), 6, -1);
	expect_exc("movbe-store-ud", EXC(movbe_store((uint32_t)mem_low)), 6, -1);
	expect_exc("movbe-top-ud", EXC(movbe_m(TOP + 0x40)), 6, -1);
	pg_off();
	guest_finish();
}
