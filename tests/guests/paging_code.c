/*
 * paging_code.c - code under paging: code patched through another linear mapping of
 * its physical page (SDM Vol. 3A, 11.6 "Self-Modifying Code": a serializing
 * instruction between the write and the execution, as the SDM asks when the two
 * linear addresses differ); two address spaces with different code at one linear
 * address, CR3 switched between calls (indirect and chained direct calls); a #PF on
 * an instruction fetch that the handler repairs (a whole instruction, and one
 * straddling two pages); code remapped by INVLPG or a CR3 load; code in a 4 MiB page;
 * code on a page that was global and no longer is; and last, code and data in the top
 * pages of linear space (0xff800000, 0xfffff000).
 */
#include "guest.h"
#include "paging.h"

#define SMC_X    0x20000000u    /* code page C */
#define SMC_W    0x20001000u    /* C again, for writing */
#define SMC_W2   0x20002000u    /* C again, mapped after C ran */
#define SPACE    0x30000000u    /* CA in space A, CB in space B */
#define FETCH    0x31000000u    /* demand-mapped code */
#define REMAP    0x32000000u    /* code page switched between P1 and P2 */
#define THUNK_C  0x33000000u    /* a caller of a PC thunk ... */
#define THUNK_T  0x33400000u    /* ... on a page of its own: T1, T2 or T3 */
#define GLOBAL   0x34000000u    /* global, then G1 in space A and G2 in space B */
#define LARGE    0x40000000u    /* 4 MiB page -> physical 0 */
#define LARGE2   0x44000000u    /* 4 MiB page -> PG_FRAME_A, then PG_FRAME_B */
#define WIN_LOW  0xff800000u    /* first page of the top 8 MiB */
#define TOP      0xfffff000u    /* last page of linear space */

static pte_t *kpd, *pda, *pdb;
typedef uint32_t (*fn_t)(void);

static void put32(uint8_t *p, uint32_t v) { *(volatile uint32_t *)p = v; }

/* mov $v, %eax; ret */
static void emit_ret(uint8_t *p, uint32_t v)
{
	p[0] = 0xb8;
	put32(p + 1, v);
	p[5] = 0xc3;
}

/* call rel32 to target (p is also the linear address it runs at); ret */
static void emit_call(uint8_t *p, uint32_t target)
{
	p[0] = 0xe8;
	put32(p + 1, target - ((uint32_t)p + 5));
	p[5] = 0xc3;
}

static uint8_t *code_page(uint32_t v)
{
	uint8_t *p = pg_alloc();
	emit_ret(p, v);
	return p;
}

/* Call lin after a serializing instruction. */
static uint32_t run(uint32_t lin)
{
	serialize();
	return pg_call(lin);
}

/* ---- patching code through an alias ---- */

static void test_smc_alias(void)
{
	uint8_t *c = pg_alloc();
	pg_map(kpd, SMC_X, (uint32_t)c, PG_P | PG_W);
	pg_map(kpd, SMC_W, (uint32_t)c, PG_P | PG_W);
	uint8_t *w = (uint8_t *)SMC_W;

	emit_ret(w, 1);
	check_eq("smc-alias-initial", run(SMC_X), 1);
	put32(w + 1, 2);
	check_eq("smc-alias-patch-immediate", run(SMC_X), 2);
	static const uint8_t minus_one[] = { 0x31, 0xc0, 0x48, 0xc3 };    /* xor eax,eax; dec eax; ret */
	memcpy(w, minus_one, sizeof(minus_one));
	check_eq("smc-alias-patch-opcode", run(SMC_X), 0xffffffff);
	emit_ret(c, 3);
	check_eq("smc-identity-patch", run(SMC_X), 3);

	uint32_t sum = 0;
	for (uint32_t i = 0; i < 200; i++) {
		put32(w + 1, i * 5);
		sum += run(SMC_X);
	}
	check_eq("smc-alias-loop", sum, 5 * 199 * 200 / 2);

	/* The running code stores into a later instruction of its own page through the
	 * alias, serializes, and runs it:
	 *   movl $imm, SMC_W+0x11d; xorl %eax,%eax; cpuid; jmp t; t(0x11c): movl $0, %eax; ret */
	uint8_t *f = w + 0x100;
	f[0] = 0xc7;
	f[1] = 0x05;
	put32(f + 2, SMC_W + 0x11d);
	put32(f + 6, 0x0c0ffee0);
	f[10] = 0x31;
	f[11] = 0xc0;
	f[12] = 0x0f;
	f[13] = 0xa2;
	f[14] = 0xeb;
	f[15] = 0x0c;           /* jmp to 0x11c */
	emit_ret(w + 0x11c, 0);
	check_eq("smc-alias-own-block", run(SMC_X + 0x100), 0x0c0ffee0);
	put32(w + 0x106, 0x0c0ffee1);
	check_eq("smc-alias-own-block-again", run(SMC_X + 0x100), 0x0c0ffee1);

	/* A mapping made after the code ran. */
	pg_map(kpd, SMC_W2, (uint32_t)c, PG_P | PG_W);
	emit_ret(w, 0x44);
	check_eq("smc-before-new-alias", run(SMC_X), 0x44);
	put32((uint8_t *)SMC_W2 + 1, 0x45);
	check_eq("smc-new-alias-after-translation", run(SMC_X), 0x45);

	/* Through a 4 MiB page that covers the physical page. */
	write_cr4(read_cr4() | CR4_PSE);
	pg_map_4m(kpd, LARGE, 0, PG_P | PG_W);
	pg_flush();
	put32((uint8_t *)(LARGE + (uint32_t)c) + 1, 0x46);
	check_eq("smc-4m-alias-patch", run(SMC_X), 0x46);
	check_eq("code-in-4m-page", run(LARGE + (uint32_t)c), 0x46);
	emit_ret(w, 0x47);
	check_eq("code-in-4m-page-patched", run(LARGE + (uint32_t)c), 0x47);

	/* Code in a 4 MiB page that moves to another frame; INVLPG names another 4 KiB of
	 * it: the whole translation goes (SDM Vol. 3, 4.10.4.1), the code with it. */
	emit_ret((uint8_t *)PG_FRAME_A + 0x1000, 1);
	emit_ret((uint8_t *)PG_FRAME_B + 0x1000, 2);
	uint8_t *tramp = pg_alloc();
	emit_call(tramp, LARGE2 + 0x1000);
	pg_map_4m(kpd, LARGE2, PG_FRAME_A, PG_P | PG_W);
	invlpg(LARGE2);
	int ok = 1;
	for (int k = 0; k < 3; k++)
		ok &= pg_call((uint32_t)tramp) == 1 && pg_call(LARGE2 + 0x1000) == 1;
	check(ok, "code-in-4m-page-a");
	pg_map_4m(kpd, LARGE2, PG_FRAME_B, PG_P | PG_W);
	invlpg(LARGE2 + 0x3000);
	/* QEMU 7.2 TCG keeps running the old code: its jump cache forgets only the 4 KiB
	 * page INVLPG names (data reads through the page see the new frame). */
	uint32_t r1 = pg_call((uint32_t)tramp), r2 = pg_call(LARGE2 + 0x1000);
	if (under_qemu()) {
		printf("SKIP code-4m-page-moved-invlpg-elsewhere QEMU keeps stale code\n");
		printf("SKIP code-4m-page-moved-invlpg-elsewhere-direct QEMU keeps stale code\n");
	} else {
		check_eq("code-4m-page-moved-invlpg-elsewhere", r1, 2);
		check_eq("code-4m-page-moved-invlpg-elsewhere-direct", r2, 2);
	}
}

/* ---- two address spaces ---- */

static void test_two_spaces(void)
{
	pda = pg_dir();
	pdb = pg_dir();
	pg_share_identity(pda, kpd);
	pg_share_identity(pdb, kpd);
	uint8_t *code_of[2] = { code_page(0xaaaa), code_page(0xbbbb) };
	pg_map(pda, SPACE, (uint32_t)code_of[0], PG_P | PG_W);
	pg_map(pdb, SPACE, (uint32_t)code_of[1], PG_P | PG_W);
	uint8_t *tramp = pg_alloc();
	emit_call(tramp, SPACE);

	write_cr3((uint32_t)pda);
	check_eq("two-spaces-a", pg_call(SPACE), 0xaaaa);
	write_cr3((uint32_t)pdb);
	check_eq("two-spaces-b", pg_call(SPACE), 0xbbbb);
	int ok = 1;
	for (int i = 0; i < 20; i++) {
		write_cr3((uint32_t)(i & 1 ? pdb : pda));
		ok &= pg_call(SPACE) == (i & 1 ? 0xbbbbu : 0xaaaau);
	}
	check(ok, "two-spaces-alternate");
	/* Calls whose target a translator would chain directly. */
	ok = 1;
	for (int i = 0; i < 20; i++) {
		write_cr3((uint32_t)(i & 1 ? pda : pdb));
		ok &= pg_call((uint32_t)tramp) == (i & 1 ? 0xaaaau : 0xbbbbu);
	}
	check(ok, "two-spaces-direct-call-chain");
	/* A loop in one block: the same call site, CR3 switched inside. */
	uint32_t sum = 0;
	for (int i = 0; i < 100; i++) {
		write_cr3((uint32_t)(i % 3 ? pda : pdb));
		sum += ((fn_t)SPACE)();
	}
	check_eq("two-spaces-loop", sum, 66 * 0xaaaa + 34 * 0xbbbb);
	/* A jump inside page S (the same frame in both spaces) to a block that runs on
	 * into page S+1 (a different frame in each): a translator may keep a chain between
	 * blocks of one page across address spaces, never one into another page. */
	uint8_t *s0 = pg_alloc(), *s1a = pg_alloc(), *s1b = pg_alloc();
	s0[0x100] = 0xe9;                                       /* jmp S+0xff8 */
	put32(s0 + 0x101, 0xff8 - 0x105);
	for (int k = 0xff8; k < 0xffe; k++)
		s0[k] = 0x90;
	s0[0xffe] = 0xb8;                                       /* mov $imm, %eax */
	s0[0xfff] = 0x11;
	put32(s1a, 0xc3aa3322);                                 /* imm 0xaa332211; ret */
	put32(s1b, 0xc3bb3322);
	pg_map(pda, SPACE + 0x10000, (uint32_t)s0, PG_P | PG_W);
	pg_map(pdb, SPACE + 0x10000, (uint32_t)s0, PG_P | PG_W);
	pg_map(pda, SPACE + 0x11000, (uint32_t)s1a, PG_P | PG_W);
	pg_map(pdb, SPACE + 0x11000, (uint32_t)s1b, PG_P | PG_W);
	/* With a global page in use (CR4.PGE), as in Linux, CR3 loads keep what they can. */
	uint8_t *g = code_page(0x6);
	pg_map(pda, SPACE + 0x20000, (uint32_t)g, PG_P | PG_W | PG_G);
	pg_map(pdb, SPACE + 0x20000, (uint32_t)g, PG_P | PG_W | PG_G);
	write_cr4(read_cr4() | CR4_PGE);
	ok = 1;
	for (int i = 0; i < 20; i++) {
		write_cr3((uint32_t)(i & 1 ? pdb : pda));
		ok &= pg_call(SPACE + 0x20000) == 6;
		for (int k = 0; k < 3; k++)
			ok &= pg_call(SPACE + 0x10100) == (i & 1 ? 0xbb332211u : 0xaa332211u);
	}
	check(ok, "two-spaces-chain-into-straddling-block");
	/* The code pages read as data too, so that each space's process holds a mapping
	 * of its own frame there: what a CR3 load checks the code against must be the new
	 * space's, never the mapping the old one holds. */
	ok = 1;
	for (int i = 0; i < 20; i++) {
		write_cr3((uint32_t)(i & 1 ? pdb : pda));
		ok &= pg_rd(SPACE) == *(uint32_t *)code_of[i & 1];
		ok &= pg_call((uint32_t)tramp) == (i & 1 ? 0xbbbbu : 0xaaaau);
		ok &= pg_call(SPACE) == (i & 1 ? 0xbbbbu : 0xaaaau);
	}
	check(ok, "two-spaces-code-read-as-data");
	write_cr4(read_cr4() & ~CR4_PGE);
	write_cr3((uint32_t)kpd);
	PF_EXPECT("two-spaces-unmapped-in-kernel-space", 0, SPACE, (void *)SPACE, pg_call(SPACE));
}

/* ---- code on a page that stops being global ---- */

/*
 * Code runs from a global page, which then becomes an ordinary page of each address
 * space, another frame in each: after INVLPG (or a toggle of CR4.PGE) no translation
 * of the page is left (SDM Vol. 3, 4.10.4.1), and the ones made since are not global,
 * so a CR3 load drops them. A translator that keeps the code it made while the page
 * was global as if it still were runs space A's code in space B.
 */
static void test_global_demoted(void)
{
	uint8_t *g1 = code_page(0x61), *g2 = code_page(0x62);
	uint8_t *tramp = pg_alloc();
	emit_call(tramp, GLOBAL);
	write_cr4(read_cr4() | CR4_PGE);
	for (int how = 0; how < 2; how++) {
		const char *name = how ? "global-demoted-pge-toggle" : "global-demoted-invlpg";
		pg_map(pda, GLOBAL, (uint32_t)g1, PG_P | PG_W | PG_G);
		pg_map(pdb, GLOBAL, (uint32_t)g1, PG_P | PG_W | PG_G);
		write_cr3((uint32_t)pda);
		int ok = 1;
		for (int k = 0; k < 3; k++)
			ok &= pg_call(GLOBAL) == 0x61 && pg_call((uint32_t)tramp) == 0x61;
		/* No longer global: G1 in A, G2 in B. */
		*pg_pte(pda, GLOBAL) = (uint32_t)g1 | PG_P | PG_W;
		*pg_pte(pdb, GLOBAL) = (uint32_t)g2 | PG_P | PG_W;
		if (how) {
			write_cr4(read_cr4() & ~CR4_PGE);
			write_cr4(read_cr4() | CR4_PGE);
		} else {
			invlpg(GLOBAL);
		}
		for (int i = 0; i < 6; i++) {
			write_cr3((uint32_t)(i & 1 ? pdb : pda));
			uint32_t want = i & 1 ? 0x62 : 0x61;
			for (int k = 0; k < 3; k++)
				ok &= pg_call(GLOBAL) == want && pg_call((uint32_t)tramp) == want;
		}
		check(ok, name);
	}
	write_cr4(read_cr4() & ~CR4_PGE);
	write_cr3((uint32_t)kpd);
}

/* ---- #PF on instruction fetch ---- */

static uint8_t *fetch_page[8];
static struct { uint32_t cr2, err, eip; } flog[4];
static int fcount;

/* Map FETCH + n pages to fetch_page[n] when it is not present. */
static int fetch_fixup(uint32_t cr2, uint32_t err, struct frame *f)
{
	uint32_t n = (cr2 - FETCH) >> 12;
	if (cr2 < FETCH || n >= 8 || !fetch_page[n] || (err & PF_P))
		return 0;
	if (fcount < 4) {
		flog[fcount].cr2 = cr2;
		flog[fcount].err = err;
		flog[fcount].eip = f->eip;
	}
	fcount++;
	*pg_pte(kpd, cr2) = (uint32_t)fetch_page[n] | PG_P | PG_W;
	return 1;
}

static void test_fetch_fault(void)
{
	volatile uint32_t r = 0;
	pg_pte(kpd, FETCH);
	fetch_page[0] = code_page(0x77);
	/* page 1 (mapped): mov $5, %eax at 0xff0, NOPs, then page 2 (demand): add $1, %eax; ret */
	fetch_page[1] = pg_alloc();
	memset(fetch_page[1], 0x90, PAGE);
	emit_ret(fetch_page[1] + 0xff0, 5);
	fetch_page[1][0xff5] = 0x90;
	fetch_page[2] = pg_alloc();
	fetch_page[2][0] = 0x83;
	fetch_page[2][1] = 0xc0;
	fetch_page[2][2] = 0x01;
	fetch_page[2][3] = 0xc3;
	/* page 3 (mapped): mov $0x44332211, %eax at 0xffd; page 4 (demand): its last two
	 * bytes, then ret */
	fetch_page[3] = pg_alloc();
	memset(fetch_page[3], 0x90, PAGE);
	fetch_page[3][0xffd] = 0xb8;
	fetch_page[3][0xffe] = 0x11;
	fetch_page[3][0xfff] = 0x22;
	fetch_page[4] = pg_alloc();
	fetch_page[4][0] = 0x33;
	fetch_page[4][1] = 0x44;
	fetch_page[4][2] = 0xc3;
	pf_fixup = fetch_fixup;

	fcount = 0;
	check(RUNS(r = pg_call(FETCH)), "fetch-demand-runs");
	check_eq("fetch-demand-result", r, 0x77);
	check_eq("fetch-demand-one-fault", fcount, 1);
	check(flog[0].cr2 == FETCH && flog[0].eip == FETCH, "fetch-demand-cr2-eip");
	check_eq("fetch-demand-error-code", flog[0].err, 0);
	pte_t *pte = pg_pte(kpd, FETCH);
	check_eq("fetch-sets-accessed-not-dirty", *pte & (PG_A | PG_D), PG_A);

	/* Nothing but the fall-through from page 1 reaches page 2. */
	*pg_pte(kpd, FETCH + PAGE) = (uint32_t)fetch_page[1] | PG_P | PG_W;
	fcount = 0;
	r = 0;
	check(RUNS(r = pg_call(FETCH + PAGE + 0xff0)), "fetch-demand-fall-through-runs");
	check_eq("fetch-demand-fall-through-result", r, 6);
	check(fcount == 1 && flog[0].cr2 == FETCH + 2 * PAGE && flog[0].eip == FETCH + 2 * PAGE &&
	      flog[0].err == 0, "fetch-demand-fall-through-fault");

	*pg_pte(kpd, FETCH + 3 * PAGE) = (uint32_t)fetch_page[3] | PG_P | PG_W;
	fcount = 0;
	r = 0;
	check(RUNS(r = pg_call(FETCH + 3 * PAGE + 0xff0)), "fetch-demand-straddle-runs");
	check_eq("fetch-demand-straddle-result", r, 0x44332211);
	/* EIP: the instruction; CR2: a byte of it on the missing page (which one the
	 * SDM does not say). */
	check(fcount == 1 && flog[0].eip == FETCH + 3 * PAGE + 0xffd && flog[0].err == 0 &&
	      flog[0].cr2 >= FETCH + 4 * PAGE && flog[0].cr2 <= FETCH + 4 * PAGE + 1,
	      "fetch-demand-straddle-fault");
	pf_fixup = 0;
}

/* ---- code remapped ---- */

static void test_remap(void)
{
	uint8_t *p1 = code_page(1), *p2 = code_page(2);
	pte_t *pte = pg_pte(kpd, REMAP);
	uint8_t *tramp = pg_alloc();
	emit_call(tramp, REMAP);

	*pte = (uint32_t)p1 | PG_P | PG_W;
	check_eq("code-remap-initial", pg_call(REMAP), 1);
	*pte = (uint32_t)p2 | PG_P | PG_W;
	invlpg(REMAP);
	check_eq("code-remap-invlpg", pg_call(REMAP), 2);
	*pte = (uint32_t)p1 | PG_P | PG_W;
	pg_flush();
	check_eq("code-remap-cr3", pg_call(REMAP), 1);

	check_eq("code-remap-direct-call-initial", pg_call((uint32_t)tramp), 1);
	check_eq("code-remap-direct-call-again", pg_call((uint32_t)tramp), 1);
	*pte = (uint32_t)p2 | PG_P | PG_W;
	invlpg(REMAP);
	check_eq("code-remap-direct-call-invlpg", pg_call((uint32_t)tramp), 2);
	*pte = (uint32_t)p1 | PG_P | PG_W;
	pg_flush();
	check_eq("code-remap-direct-call-cr3", pg_call((uint32_t)tramp), 1);

	/* The monitor's own accesses go through the TLB too: SIDT writes through the
	 * monitor; after the PTE moves and INVLPG, its write lands in the new frame. */
	uint8_t *d1 = pg_alloc(), *d2 = pg_alloc();
	const uint32_t data = REMAP + 0x77000;          /* a TLB set no code here uses */
	pte_t *dpte = pg_pte(kpd, data);
	*dpte = (uint32_t)d1 | PG_P | PG_W;
	__asm__ volatile("sidt %0" : "=m"(*(volatile uint8_t(*)[6])data) :: "memory");
	uint32_t lim1 = *(volatile uint16_t *)d1;
	*(volatile uint16_t *)d1 = 0x1234;
	*dpte = (uint32_t)d2 | PG_P | PG_W;
	invlpg(data);
	__asm__ volatile("sidt %0" : "=m"(*(volatile uint8_t(*)[6])data) :: "memory");
	check(*(volatile uint16_t *)d1 == 0x1234 && *(volatile uint16_t *)d2 == lim1,
	      "monitor-write-after-invlpg-goes-to-new-frame");

	*pte = 0;
	invlpg(REMAP);
	PF_EXPECT("code-unmapped-faults", 0, REMAP, (void *)REMAP, pg_call(REMAP));
	PF_EXPECT("code-unmapped-direct-call-faults", 0, REMAP, (void *)REMAP, pg_call((uint32_t)tramp));
	*pte = (uint32_t)p2 | PG_P | PG_W;
	check_eq("code-present-again-no-invlpg", pg_call((uint32_t)tramp), 2);
}

/* ---- a PC thunk (mov (%esp), %ebx; ret) and its callers ---- */

/* Caller at linear at: call THUNK_T; mov -4(%esp), %eax; add %ebx, %eax; ret. With the
 * thunk, EAX = twice the return address (pushed, then loaded into EBX). */
static void emit_thunk_caller(uint8_t *p, uint32_t at)
{
	p[0] = 0xe8;
	put32(p + 1, THUNK_T - (at + 5));
	static const uint8_t rest[] = { 0x8b, 0x44, 0x24, 0xfc, 0x01, 0xd8, 0xc3 };
	for (unsigned k = 0; k < sizeof(rest); k++)
		p[5 + k] = rest[k];
}

static void test_thunk(void)
{
	const uint32_t ret = THUNK_C + 5;
	uint8_t *c = pg_alloc(), *t1 = pg_alloc(), *t2 = pg_alloc();
	emit_thunk_caller(c, THUNK_C);
	put32(t1, 0xc3241c8b);                          /* mov (%esp), %ebx; ret */
	t2[0] = 0xbb;                                   /* mov $0x12345678, %ebx; ret */
	put32(t2 + 1, 0x12345678);
	t2[5] = 0xc3;
	pg_map(kpd, THUNK_C, (uint32_t)c, PG_P | PG_W);
	pte_t *tpte = pg_pte(kpd, THUNK_T);
	*tpte = (uint32_t)t1 | PG_P | PG_W;
	int ok = 1;
	for (int k = 0; k < 3; k++)
		ok &= pg_call(THUNK_C) == 2 * ret;
	check(ok, "thunk-call-pushes-and-loads");
	/* The thunk rewritten in place (through the identity map). */
	t1[0] = 0xbb;
	put32(t1 + 1, 0x87654321);
	t1[5] = 0xc3;
	serialize();
	check_eq("thunk-rewritten", pg_call(THUNK_C), ret + 0x87654321);
	put32(t1, 0xc3241c8b);
	serialize();
	check_eq("thunk-rewritten-back", pg_call(THUNK_C), 2 * ret);
	/* The thunk's page remapped: the caller's own page is unchanged. */
	*tpte = (uint32_t)t2 | PG_P | PG_W;
	invlpg(THUNK_T);
	check_eq("thunk-page-remapped-invlpg", pg_call(THUNK_C), ret + 0x12345678);
	*tpte = (uint32_t)t1 | PG_P | PG_W;
	invlpg(THUNK_T);
	check_eq("thunk-page-mapped-back", pg_call(THUNK_C), 2 * ret);
	/* Two address spaces that share a caller's page (a caller not run before) and map
	 * different code at the thunk's address, with global pages in use (CR3 loads keep
	 * what they can). */
	const uint32_t c2lin = THUNK_C + 0x2000, ret2 = c2lin + 5;
	uint8_t *c2 = pg_alloc();
	emit_thunk_caller(c2, c2lin);
	/* ... and one reached through a jump inside its page (jmp .+2): that chain stays
	 * across address spaces only if the thunk's page maps the same. */
	const uint32_t c3lin = THUNK_C + 0x4000, ret3 = c3lin + 7;
	uint8_t *c3 = pg_alloc();
	c3[0] = 0xeb;
	c3[1] = 0x00;
	emit_thunk_caller(c3 + 2, c3lin + 2);
	pte_t *pa = pg_dir(), *pb = pg_dir();
	pg_share_identity(pa, kpd);
	pg_share_identity(pb, kpd);
	pg_map(pa, c2lin, (uint32_t)c2, PG_P | PG_W);
	pg_map(pb, c2lin, (uint32_t)c2, PG_P | PG_W);
	pg_map(pa, c3lin, (uint32_t)c3, PG_P | PG_W);
	pg_map(pb, c3lin, (uint32_t)c3, PG_P | PG_W);
	pg_map(pa, THUNK_T, (uint32_t)t1, PG_P | PG_W);
	pg_map(pb, THUNK_T, (uint32_t)t2, PG_P | PG_W);
	uint8_t *g = code_page(0x6);
	pg_map(pa, THUNK_T + 0x10000, (uint32_t)g, PG_P | PG_W | PG_G);
	pg_map(pb, THUNK_T + 0x10000, (uint32_t)g, PG_P | PG_W | PG_G);
	write_cr4(read_cr4() | CR4_PGE);
	ok = 1;
	for (int i = 0; i < 12; i++) {
		write_cr3((uint32_t)(i & 1 ? pb : pa));
		ok &= pg_call(THUNK_T + 0x10000) == 6;
		for (int k = 0; k < 2; k++) {
			ok &= pg_call(c2lin) == (i & 1 ? ret2 + 0x12345678 : 2 * ret2);
			ok &= pg_call(c3lin) == (i & 1 ? ret3 + 0x12345678 : 2 * ret3);
		}
	}
	check(ok, "thunk-two-spaces");
	write_cr3((uint32_t)kpd);
	write_cr4(read_cr4() & ~CR4_PGE);
}

/* ---- the top of linear space ---- */

static void test_top(void)
{
	uint8_t *low = code_page(41), *top = code_page(42);
	pg_map(kpd, WIN_LOW, (uint32_t)low, PG_P | PG_W);
	pg_map(kpd, TOP, (uint32_t)top, PG_P | PG_W);

	check_eq("window-low-page-code", pg_call(WIN_LOW), 41);
	check_eq("top-page-code", pg_call(TOP), 42);
	pg_wr(TOP + 0xff0, 0x70707070);
	check_eq("top-page-data-write", *(volatile uint32_t *)(top + 0xff0), 0x70707070);
	put32(top + 0xff4, 0x71717171);
	check_eq("top-page-data-read", pg_rd(TOP + 0xff4), 0x71717171);
	put32(top + 0xffc, 0x72727272);
	check_eq("top-page-last-dword", pg_rd(0xfffffffcu), 0x72727272);
	pg_wr(TOP + 1, 43);
	check_eq("top-page-smc", pg_call(TOP), 43);
	pg_wr(WIN_LOW + 0x10, 0x73737373);
	check_eq("window-low-page-data", *(volatile uint32_t *)(low + 0x10), 0x73737373);
}

void test_main(void)
{
	guest_init();
	pg_init();
	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W);
	write_cr4(read_cr4() & ~(CR4_PSE | CR4_PGE));
	pg_on(kpd);
	test_smc_alias();
	test_two_spaces();
	test_global_demoted();
	test_fetch_fault();
	test_remap();
	test_thunk();
	test_top();
	pg_off();
}
