/*
 * memop_edges.c - the edges of memop's general fallback (monitor/memop_native.c), where
 * an instruction runs on the host against a copy of its memory operand, and of what
 * the translator lets the host run at all:
 *   - operand sizes Capstone 4 reports too large (COMISS m32, COMISD m64, FNSTSW m16,
 *     MMX PUNPCKL* mm, m32) at the end of a page whose next page refuses the access:
 *     the CPU touches no byte of it, so no #PF;
 *   - FXSAVE/FXRSTOR and FNSAVE/FRSTOR whose operand straddles the start of the top
 *     8 MiB (0xff800000), where trapeze tells its own host fault from the guest's by
 *     the operand's size: no #GP;
 *   - a legal instruction with thirteen redundant 66 prefixes (15 bytes) at the top;
 *   - FXSAVE/FXRSTOR with CR0.EM = 1: #NM (SDM Vol. 2, FXSAVE, FXRSTOR);
 *   - instructions of features the CPU's CPUID does not list (ADX, SHA, RDRAND,
 *     RDSEED, MOVDIRI, MOVDIR64B, GFNI, SSE4a): #UD, on ordinary memory and at the top;
 *   - stores and read-modify-writes at the top: the memory written, and #PF with W on
 *     a read-only page. The test guest/memop_edges-probe-read runs this guest with
 *     TRAPEZE_TEST_PROBE_READ=1, where trapeze takes its probe's fault as a read (as a
 *     host that reports a read-modify-write's fault as one would): the writes must
 *     still be found, by the copy having changed.
 * Before the fixes trapeze raised #PF/#GP for the first two, stopped the VM for the
 * third, raised #UD for the fourth, ran the fifth ones on the host, and (probe read)
 * lost the writes.
 */
#include "guest.h"
#include "paging.h"

#define TOP      0xffff0000u            /* emulated: the top 8 MiB of linear space */
#define TOP_PA   (PG_FRAME_A + 0x10000)
#define TOP_RO   (TOP + 0x2000)         /* read-only */
#define TOP_NP   (TOP + 0x3000)         /* not present */
#define EDGE     0xff7ff000u            /* the last page below the top 8 MiB */
#define EDGE_PA  (PG_FRAME_A + 0x20000)

static uint8_t fxbuf[512] __attribute__((aligned(16)));
static const float one[4] __attribute__((aligned(16))) = { 1, 1, 1, 1 };
static const double one_d[2] __attribute__((aligned(16))) = { 1, 1 };

/* EFLAGS after an instruction, its ZF/CF/PF as COMISS sets them. */
#define ZPC 0x45u

/* MMX insn mm0, m32 from the last 4 bytes before the not-present page, mm0 zeroed
 * first and stored to out: the exception vector, or -1. */
#define PUNPCKL_M32(insn, out) \
	EXC(__asm__ volatile("pxor %%mm0, %%mm0\n\t" insn " (%1), %%mm0\n\tmovq %%mm0, %0" \
			     : "=m"(out) : "r"(TOP_NP - 4)))

static void at_page_end(void)
{
	uint8_t *top = (uint8_t *)TOP_PA;
	float f = 1.0f;
	double d = 1.0;
	memcpy(top + 0x3000 - 4, &f, 4);
	memcpy(top + 0x3000 - 8 - 4, &d, 8);
	uint32_t fl = 0;
	__asm__ volatile("movups %0, %%xmm0; movupd %1, %%xmm1" :: "m"(one), "m"(one_d));
	/* COMISS xmm, m32 and COMISD xmm, m64 (SDM Vol. 2): equal, so ZF = 1. */
	int v = EXC(__asm__ volatile("comiss (%1), %%xmm0; pushfl; popl %0"
				     : "=r"(fl) : "r"(TOP_NP - 4) : "cc"));
	expect_exc("comiss-m32-at-page-end", v, -1, -1);
	check_eq("comiss-m32-flags", fl & ZPC, 0x40);
	v = EXC(__asm__ volatile("comisd (%1), %%xmm1; pushfl; popl %0"
				 : "=r"(fl) : "r"(TOP_NP - 12) : "cc"));
	expect_exc("comisd-m64-near-page-end", v, -1, -1);
	check_eq("comisd-m64-flags", fl & ZPC, 0x40);
	memcpy(top + 0x3000 - 8, &d, 8);
	v = EXC(__asm__ volatile("comisd (%1), %%xmm1; pushfl; popl %0"
				 : "=r"(fl) : "r"(TOP_NP - 8) : "cc"));
	expect_exc("comisd-m64-at-page-end", v, -1, -1);
	check_eq("comisd-m64-at-page-end-flags", fl & ZPC, 0x40);

	/* FNSTSW m16 in the last two bytes of a writable page before a read-only one. */
	uint16_t sw = 0, want = 0;
	__asm__ volatile("fninit; fld1; fnstsw %0" : "=m"(want));
	v = EXC(__asm__ volatile("fnstsw (%0)" :: "r"(TOP_RO - 2) : "memory"));
	expect_exc("fnstsw-m16-at-page-end", v, -1, -1);
	memcpy(&sw, top + 0x2000 - 2, 2);
	check_eq("fnstsw-m16-value", sw, want);
	__asm__ volatile("fninit");

	/* MMX PUNPCKLBW/WD/DQ mm, m32 read 4 bytes (SDM Vol. 2, PUNPCKLBW); QEMU reads 8. */
	memcpy(top + 0x3000 - 4, "\x11\x22\x33\x44", 4);
	static const char *const names[3] = { "punpcklbw-m32-at-page-end",
					      "punpcklwd-m32-at-page-end",
					      "punpckldq-m32-at-page-end" };
	/* Zeros interleaved with the source's bytes, words, doubleword. */
	static const uint64_t wants[3] = { 0x4400330022001100ull, 0x4433000022110000ull,
					   0x4433221100000000ull };
	uint64_t got[3] = { 0 };
	int vs[3];
	vs[0] = PUNPCKL_M32("punpcklbw", got[0]);
	vs[1] = PUNPCKL_M32("punpcklwd", got[1]);
	vs[2] = PUNPCKL_M32("punpckldq", got[2]);
	__asm__ volatile("emms");
	for (int k = 0; k < 3; k++)
		expect_exc_sdm(names[k], vs[k], -1, -1, "QEMU reads 8 bytes for the MMX form");
	if (under_qemu()) {
		printf("SKIP punpckl-m32-values QEMU faults before\n");
		return;
	}
	for (int k = 0; k < 3; k++)
		if (got[k] != wants[k]) {
			fail("punpckl-m32-values", "form %d: %08x%08x want %08x%08x", k,
			     (uint32_t)(got[k] >> 32), (uint32_t)got[k],
			     (uint32_t)(wants[k] >> 32), (uint32_t)wants[k]);
			return;
		}
	pass("punpckl-m32-values");
}

static void straddling_window(void)
{
	/* FXSAVE's 512 bytes from 0xff7fff00: half below the top 8 MiB, half in it. */
	uint16_t cw = 0x27f, got = 0;
	__asm__ volatile("fninit; fldcw %0" :: "m"(cw));
	int v = EXC(__asm__ volatile("fxsave (%0)" :: "r"(EDGE + 0xf00) : "memory"));
	expect_exc("fxsave-straddling-window", v, -1, -1);
	check_eq("fxsave-straddling-fcw", *(volatile uint16_t *)(EDGE + 0xf00), 0x27f);
	__asm__ volatile("fninit");
	v = EXC(__asm__ volatile("fxrstor (%0)" :: "r"(EDGE + 0xf00) : "memory"));
	expect_exc("fxrstor-straddling-window", v, -1, -1);
	__asm__ volatile("fnstcw %0" : "=m"(got));
	check_eq("fxrstor-straddling-fcw", got, 0x27f);
	/* FNSAVE's 108 bytes from 0xff7fffe0. */
	__asm__ volatile("fninit; fldcw %0" :: "m"(cw));
	v = EXC(__asm__ volatile("fnsave (%0)" :: "r"(EDGE + 0xfe0) : "memory"));
	expect_exc("fnsave-straddling-window", v, -1, -1);
	v = EXC(__asm__ volatile("frstor (%0)" :: "r"(EDGE + 0xfe0) : "memory"));
	expect_exc("frstor-straddling-window", v, -1, -1);
	__asm__ volatile("fnstcw %0" : "=m"(got));
	check_eq("frstor-straddling-fcw", got, 0x27f);
	__asm__ volatile("fninit");
}

static void redundant_prefixes(void)
{
	/* FLD m32 with thirteen 66 prefixes: 15 bytes, legal (SDM Vol. 2, 2.3.11). */
	*(volatile float *)(TOP + 0x10) = 2.0f;
	float got = 0;
	int v = EXC(__asm__ volatile(".byte 0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,"
				     "0x66,0x66,0x66,0xd9,0x00\n\tfstps %0" : "=m"(got) : "a"(TOP + 0x10)));
	expect_exc("fld-13-prefixes", v, -1, -1);
	uint32_t bits;
	memcpy(&bits, &got, 4);
	check_eq("fld-13-prefixes-value", bits, 0x40000000);
}

static void fxsave_em(void)
{
	write_cr0(read_cr0() | 0x4);
	int v = EXC(__asm__ volatile("fxsave (%0)" :: "r"(fxbuf) : "memory"));
	expect_exc("fxsave-em-nm", v, 7, -1);
	v = EXC(__asm__ volatile("fxsave (%0)" :: "r"(TOP + 0x200) : "memory"));
	expect_exc("fxsave-em-nm-top", v, 7, -1);
	v = EXC(__asm__ volatile("fxrstor (%0)" :: "r"(fxbuf) : "memory"));
	expect_exc("fxrstor-em-nm", v, 7, -1);
	v = EXC(__asm__ volatile("ldmxcsr (%0)" :: "r"(fxbuf + 24)));
	expect_exc("ldmxcsr-em-ud", v, 6, -1);
	write_cr0(read_cr0() & ~0x4u);
}

/* An instruction of a feature, its bytes with the memory operand [EAX] (or none), and
 * the CPUID bit that lists the feature: leaf, register (1..3: EBX..EDX), bit. */
struct unlisted {
	const char *name, *name_top;
	uint32_t leaf;
	int reg, bit;
	uint8_t len, b[8];
};

#define EXT1 0x80000001u
static const struct unlisted unlisted[] = {
	/* adcx ecx, [eax]; adox ecx, [eax] */
	{ "adcx-ud", "adcx-ud-top", 7, 1, 19, 5, { 0x66, 0x0f, 0x38, 0xf6, 0x08 } },
	{ "adox-ud", "adox-ud-top", 7, 1, 19, 5, { 0xf3, 0x0f, 0x38, 0xf6, 0x08 } },
	/* sha1msg1 xmm1, [eax]; sha1rnds4 xmm1, [eax], 1 */
	{ "sha1msg1-ud", "sha1msg1-ud-top", 7, 1, 29, 4, { 0x0f, 0x38, 0xc9, 0x08 } },
	{ "sha1rnds4-ud", "sha1rnds4-ud-top", 7, 1, 29, 5, { 0x0f, 0x3a, 0xcc, 0x08, 0x01 } },
	/* movdiri [eax], ecx; movdir64b ecx, [eax]; gf2p8mulb xmm1, [eax] */
	{ "movdiri-ud", "movdiri-ud-top", 7, 2, 27, 4, { 0x0f, 0x38, 0xf9, 0x08 } },
	{ "movdir64b-ud", "movdir64b-ud-top", 7, 2, 28, 5, { 0x66, 0x0f, 0x38, 0xf8, 0x08 } },
	{ "gf2p8mulb-ud", "gf2p8mulb-ud-top", 7, 2, 8, 5, { 0x66, 0x0f, 0x38, 0xcf, 0x08 } },
	/* rdrand ecx; rdseed ecx */
	{ "rdrand-ud", "rdrand-ud-top", 1, 2, 30, 3, { 0x0f, 0xc7, 0xf1 } },
	{ "rdseed-ud", "rdseed-ud-top", 7, 1, 18, 3, { 0x0f, 0xc7, 0xf9 } },
	/* SSE4a: movntss [eax], xmm1; extrq xmm1, 4, 0 */
	{ "movntss-ud", "movntss-ud-top", EXT1, 2, 6, 4, { 0xf3, 0x0f, 0x2b, 0x08 } },
	{ "extrq-ud", "extrq-ud-top", EXT1, 2, 6, 6, { 0x66, 0x0f, 0x78, 0xc1, 0x04, 0x00 } },
};

/* The instruction, copied into the code buffer with a RET after it, run with EAX
 * at the operand. */
static uint8_t code[2][32] __attribute__((aligned(16)));
static int run_unlisted(const struct unlisted *u, int k, uint32_t eax)
{
	memcpy(code[k], u->b, u->len);
	code[k][u->len] = 0xc3;
	void (*fn)(void) = (void (*)(void))code[k];
	return EXC(__asm__ volatile("call *%1" :: "a"(eax), "r"(fn)
				    : "ecx", "edx", "memory", "cc"));
}

static void unlisted_features(void)
{
	for (unsigned k = 0; k < sizeof(unlisted) / sizeof(unlisted[0]); k++) {
		const struct unlisted *u = &unlisted[k];
		uint32_t id[4];
		cpuid(u->leaf & 0x80000000u, id);
		uint32_t max = id[0];
		cpuid(u->leaf, id);
		if (u->leaf <= max && (id[u->reg] >> u->bit & 1)) {
			printf("SKIP %s the CPU lists the feature\n", u->name);
			printf("SKIP %s the CPU lists the feature\n", u->name_top);
			continue;
		}
		expect_exc(u->name, run_unlisted(u, 0, (uint32_t)fxbuf), 6, -1);
		expect_exc(u->name_top, run_unlisted(u, 1, TOP + 0x40), 6, -1);
	}
}

static void writes_at_top(void)
{
	volatile uint32_t *t = (volatile uint32_t *)(TOP + 0x100);
	t[0] = 0x12345678;
	int v = EXC(__asm__ volatile("shldl $4, %%ecx, (%0)" :: "r"(t), "c"(0x9abcdef0u)
				     : "memory", "cc"));
	expect_exc("shld-top", v, -1, -1);
	check_eq("shld-top-value", t[0], 0x23456789);
	/* CMPXCHG8B: EDX:EAX equal, ECX:EBX stored. */
	t[2] = 0x11111111;
	t[3] = 0x22222222;
	v = EXC(__asm__ volatile("lock cmpxchg8b (%0)" :: "r"(t + 2), "a"(0x11111111), "d"(0x22222222),
				 "b"(0x33333333), "c"(0x44444444) : "memory", "cc"));
	expect_exc("cmpxchg8b-top", v, -1, -1);
	check_eq("cmpxchg8b-top-low", t[2], 0x33333333);
	check_eq("cmpxchg8b-top-high", t[3], 0x44444444);
	t[4] = 0;
	v = EXC(__asm__ volatile("movnti %1, (%0)" :: "r"(t + 4), "r"(0x5a5a1234u) : "memory"));
	expect_exc("movnti-top", v, -1, -1);
	check_eq("movnti-top-value", t[4], 0x5a5a1234);
	t[5] = 0;
	v = EXC(__asm__ volatile("fninit; fld1; fistpl (%0)" :: "r"(t + 5) : "memory"));
	expect_exc("fistp-top", v, -1, -1);
	check_eq("fistp-top-value", t[5], 1);
	/* A read-modify-write on a read-only page: #PF with P and W, nothing written. */
	uint8_t *ro = (uint8_t *)TOP_PA + 0x2000;
	memcpy(ro + 0x10, "\x78\x56\x34\x12", 4);
	pf_reset();
	v = EXC(__asm__ volatile("shldl $4, %%ecx, (%0)" :: "r"(TOP_RO + 0x10), "c"(0x9abcdef0u)
				 : "memory", "cc"));
	pf_expect_mask("shld-read-only-pf-w", v, PF_P | PF_W, 0xffffffffu, TOP_RO + 0x10, NULL);
	check_eq("shld-read-only-unchanged", *(volatile uint32_t *)(TOP_RO + 0x10), 0x12345678);
}

void test_main(void)
{
	guest_init();
	idt_init();
	write_cr4(read_cr4() | 0x600);          /* OSFXSR, OSXMMEXCPT */
	write_cr0((read_cr0() & ~0x4u) | 0x22); /* EM off; MP, NE on */
	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	pg_map(pd, TOP, TOP_PA, PG_P | PG_W);
	pg_map(pd, TOP + 0x1000, TOP_PA + 0x1000, PG_P | PG_W);
	pg_map(pd, TOP_RO, TOP_PA + 0x2000, PG_P);
	pg_map(pd, EDGE, EDGE_PA, PG_P | PG_W);
	pg_map(pd, EDGE + 0x1000, EDGE_PA + 0x1000, PG_P | PG_W);
	pg_on(pd);
	pg_set_wp(1);                           /* read-only pages bind CPL 0 too */
	at_page_end();
	straddling_window();
	redundant_prefixes();
	fxsave_em();
	unlisted_features();
	writes_at_top();
	pg_off();
	guest_finish();
}
