/*
 * paging_spaces.c - code reached through CR3 loads under CR4.PGE, as Linux switches
 * processes: four address spaces (A, B, C, D) share a page of callers (T, one frame,
 * not global) and map other code, or nothing, at the linear pages those callers
 * reach. A translator may keep what it translated for an address space across the
 * loads (the blocks, the chains from the callers into them, its lookup entries), but a
 * call must always run what the current tables map there (SDM Vol. 3A, 4.10.4.1: a
 * CR3 load invalidates every non-global translation), or fault where they map
 * nothing: the tables of a space change while it is not current (a page remapped,
 * a page unmapped), one physical page of code is mapped in spaces that map its
 * neighbour, where a block runs on into, differently, and one is a user page in one
 * space and a supervisor page in another, where ring 3 may not fetch from it. And
 * code in two neighbouring 4 MiB pages, the second mapped to another frame in B: the
 * check of a CR3 load may take a large page whole from one walk, but no further.
 * And code that two spaces map to the same frame, so that what was translated from it
 * is good in both and may stay so across their switches, until one of them maps that
 * page elsewhere, or not at all, while the other runs.
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define T       0x50000000u    /* callers: one frame in every space */
#define S       0x50010000u    /* SA in A, SB in B, SC or nothing later in A */
#define U       0x50020000u    /* P in A, B and D; nothing in C */
#define U1      0x50021000u    /* QA in A, QB in B and D */
#define K       0x50030000u    /* one frame: a user page in A, supervisor in B */
#define V       0x50040000u    /* VA in A and B; VB in B later, then nothing */
#define FL_U    0x2u           /* EFLAGS for ring 3: bit 1, IF clear */

/* The callers on T: call rel32 to a target; ret. */
#define T_S_A   (T + 0x000)     /* S, called in A only */
#define T_S_B   (T + 0x040)     /* S, called in B only */
#define T_S     (T + 0x080)     /* S, called everywhere */
#define T_U_A   (T + 0x0c0)     /* U+0xff8 (runs on into U1), called in A and D */
#define T_U     (T + 0x100)     /* U+0x100 */
#define T_K     (T + 0x140)     /* K, called at CPL 3 */
#define T_V     (T + 0x180)     /* V, called everywhere */

static pte_t *kpd, *pda, *pdb, *pdc, *pdd;
static uint8_t *sa, *sb, *sc, *p, *qa, *qb, *va, *vb;

static void put32(uint8_t *q, uint32_t v) { *(volatile uint32_t *)q = v; }

/* mov $v, %eax; ret */
static void emit_ret(uint8_t *q, uint32_t v)
{
	q[0] = 0xb8;
	put32(q + 1, v);
	q[5] = 0xc3;
}

/* At T + off: call target; ret (t is T's frame, identity-mapped). */
static void emit_caller(uint8_t *t, uint32_t off, uint32_t target)
{
	t[off] = 0xe8;
	put32(t + off + 1, target - (T + off + 5));
	t[off + 5] = 0xc3;
}

/* A page of code for S: v at +0, v + 1 at +0x100. */
static uint8_t *s_page(uint32_t v)
{
	uint8_t *q = pg_alloc();
	emit_ret(q, v);
	emit_ret(q + 0x100, v + 1);
	return q;
}

static void space(pte_t *pd) { write_cr3((uint32_t)pd); }

/* Each call several times: the first runs may go through the translator, the later
 * ones through what it kept (chains, lookup entries). */
static int calls(uint32_t lin, uint32_t want)
{
	int ok = 1;
	for (int k = 0; k < 4; k++)
		ok &= pg_call(lin) == want;
	return ok;
}

static void setup(void)
{
	pda = pg_dir();
	pdb = pg_dir();
	pdc = pg_dir();
	pdd = pg_dir();
	pte_t *pds[] = { pda, pdb, pdc, pdd };
	uint8_t *t = pg_alloc();
	emit_caller(t, T_S_A - T, S);
	emit_caller(t, T_S_B - T, S);
	emit_caller(t, T_S - T, S);
	emit_caller(t, T_U_A - T, U + 0xff8);
	emit_caller(t, T_U - T, U + 0x100);
	emit_caller(t, T_K - T, K);
	emit_caller(t, T_V - T, V);
	for (int k = 0; k < 4; k++) {
		pg_share_identity(pds[k], kpd);
		pg_map(pds[k], T, (uint32_t)t, PG_P | PG_W | PG_U);
	}
	uint8_t *kc = pg_alloc();
	emit_ret(kc, 0x77);
	pg_map(pda, K, (uint32_t)kc, PG_P | PG_W | PG_U);
	pg_map(pdb, K, (uint32_t)kc, PG_P | PG_W);
	sa = s_page(0xa0);
	sb = s_page(0xb0);
	sc = s_page(0xc0);
	pg_map(pda, S, (uint32_t)sa, PG_P | PG_W);
	pg_map(pdb, S, (uint32_t)sb, PG_P | PG_W);
	/* P: mov $0x11, %eax; ret at +0x100; at +0xff8 NOPs, then a MOV to EAX whose
	 * immediate ends on the next page (QA or QB), and RET there. */
	p = pg_alloc();
	emit_ret(p + 0x100, 0x11);
	for (int k = 0xff8; k < 0xffe; k++)
		p[k] = 0x90;
	p[0xffe] = 0xb8;
	p[0xfff] = 0x11;
	qa = pg_alloc();
	qb = pg_alloc();
	put32(qa, 0xc3aa3322);                  /* imm 0xaa332211; ret */
	put32(qb, 0xc3bb3322);                  /* imm 0xbb332211; ret */
	pg_map(pda, U, (uint32_t)p, PG_P | PG_W);
	pg_map(pdb, U, (uint32_t)p, PG_P | PG_W);
	pg_map(pdd, U, (uint32_t)p, PG_P | PG_W);
	pg_map(pda, U1, (uint32_t)qa, PG_P | PG_W);
	pg_map(pdb, U1, (uint32_t)qb, PG_P | PG_W);
	pg_map(pdd, U1, (uint32_t)qb, PG_P | PG_W);
	pg_pte(pdc, U);                         /* C: a page table, U not present */
	va = s_page(0xd0);
	vb = s_page(0xe0);
	pg_map(pda, V, (uint32_t)va, PG_P | PG_W);
	pg_map(pdb, V, (uint32_t)va, PG_P | PG_W);
}

/* Different code at S in A and B, called through the same caller while switching. */
static void test_alternate(void)
{
	int ok = 1;
	for (int i = 0; i < 20; i++) {
		space(i & 1 ? pdb : pda);
		ok &= calls(T_S, i & 1 ? 0xb0 : 0xa0);
		ok &= calls(S + 0x100, i & 1 ? 0xb1 : 0xa1);
	}
	check(ok, "spaces-alternate");
}

/* A's S moves to SC, then goes, while A is not current; the caller that ran only in A
 * (its chain into A's code remembered, if a translator keeps one) must see it. */
static void test_changed_while_away(void)
{
	space(pda);
	int ok = calls(T_S_A, 0xa0) & calls(S + 0x100, 0xa1);
	space(pdb);
	ok &= calls(T_S_B, 0xb0) & calls(T_S, 0xb0);
	check(ok, "spaces-before-change");

	pg_map(pda, S, (uint32_t)sc, PG_P | PG_W);
	space(pda);
	check(calls(T_S_A, 0xc0), "spaces-remapped-while-away-chain");
	check(calls(S + 0x100, 0xc1), "spaces-remapped-while-away-lookup");
	check(calls(T_S, 0xc0), "spaces-remapped-while-away-shared-caller");

	space(pdb);
	check(calls(T_S_B, 0xb0), "spaces-other-unchanged");
	*pg_pte(pda, S) = 0;
	space(pda);
	PF_EXPECT("spaces-unmapped-while-away-chain", 0, S, (void *)S, pg_call(T_S_A));
	PF_EXPECT("spaces-unmapped-while-away-lookup", 0, S + 0x100, (void *)(S + 0x100),
		  pg_call(S + 0x100));

	/* Back to SA, behind a CR3 load to the same tables (not a switch of spaces). */
	space(pdb);
	check(calls(T_S_B, 0xb0), "spaces-other-unchanged-again");
	space(pda);
	pg_map(pda, S, (uint32_t)sa, PG_P | PG_W);
	pg_flush();
	check(calls(T_S_A, 0xa0) & calls(T_S, 0xa0), "spaces-mapped-again");
	pg_map(pda, S, (uint32_t)sc, PG_P | PG_W);
	pg_flush();
	check(calls(T_S_A, 0xc0) & calls(S + 0x100, 0xc1), "spaces-reload-same-tables");
	pg_map(pda, S, (uint32_t)sa, PG_P | PG_W);
	invlpg(S);
	check(calls(T_S_A, 0xa0) & calls(S + 0x100, 0xa1), "spaces-invlpg");
	space(pdb);
	space(pda);
	check(calls(T_S_A, 0xa0), "spaces-back-after-invlpg");
}

/* V maps VA in A and B: its code runs in both, through the same caller, at every
 * switch. Then B's entry for V changes while A is current (no INVLPG: B's tables are
 * not in use, and the switch to B is a CR3 load): B must run VB, and after that not
 * find V at all; A keeps VA throughout. */
static void test_shared_code_changed(void)
{
	int ok = 1;
	for (int i = 0; i < 20; i++) {
		space(i & 1 ? pdb : pda);
		ok &= calls(T_V, 0xd0) & calls(V + 0x100, 0xd1);
	}
	check(ok, "spaces-shared-code");
	space(pda);
	pg_map(pdb, V, (uint32_t)vb, PG_P | PG_W);
	check(calls(T_V, 0xd0), "spaces-shared-code-a-unchanged");
	space(pdb);
	check(calls(T_V, 0xe0), "spaces-shared-code-remapped-while-away-chain");
	check(calls(V + 0x100, 0xe1), "spaces-shared-code-remapped-while-away-lookup");
	space(pda);
	check(calls(T_V, 0xd0), "spaces-shared-code-a-again");
	pg_map(pdb, V, (uint32_t)va, PG_P | PG_W);
	space(pdb);
	check(calls(T_V, 0xd0), "spaces-shared-code-back");
	space(pda);
	check(calls(T_V, 0xd0), "spaces-shared-code-a-after-back");
	*pg_pte(pdb, V) = 0;
	space(pdb);
	PF_EXPECT("spaces-shared-code-unmapped-while-away", 0, V, (void *)V, pg_call(T_V));
	space(pda);
	check(calls(T_V, 0xd0), "spaces-shared-code-a-last");
}

/* One frame of code (P) at U in A, B and D, where the block at U+0xff8 runs on into
 * U1, which maps QA in A and QB in B and D: the code of P that D may run is the block
 * at U+0x100 and the one that runs on into QB, never the one into QA. */
static void test_shared_page(void)
{
	space(pda);
	int ok = calls(T_U_A, 0xaa332211) & calls(T_U, 0x11);
	space(pdb);
	ok &= calls(U + 0xff8, 0xbb332211) & calls(T_U, 0x11);
	check(ok, "spaces-shared-page-a-b");
	space(pdc);
	PF_EXPECT("spaces-shared-page-unmapped", 0, U + 0x100, (void *)(U + 0x100), pg_call(T_U));
	space(pdd);
	check(calls(U + 0x100, 0x11), "spaces-shared-page-d");
	check(calls(T_U_A, 0xbb332211), "spaces-shared-page-d-runs-on-into-qb");
	space(pda);
	check(calls(T_U_A, 0xaa332211), "spaces-shared-page-a-again");
}

/* K's frame is user code in A and a supervisor page in B: the kernel runs it in both,
 * ring 3 only in A; in B its fetch faults (SDM Vol. 3A, 4.6.1), whatever the kernel's
 * code there has kept. */
static int user_calls(uint32_t lin, uint32_t want)
{
	volatile int ok = 1;
	for (volatile int k = 0; k < 4; k++) {
		volatile uint32_t r = 0;
		if (EXC(r = user_run(lin, 0, FL_U)) != -1 || r != want)
			ok = 0;
	}
	return ok;
}

static void test_user_page(void)
{
	space(pda);
	check(calls(K, 0x77) & user_calls(T_K, 0x77), "spaces-user-page-a");
	space(pdb);
	check(calls(K, 0x77), "spaces-supervisor-page-b-kernel");
	pf_reset();
	int v = EXC(user_run(T_K, 0, FL_U));
	pf_expect_mask("spaces-supervisor-page-b-user-fetch", v, PF_P | PF_U, 0xffffffffu, K,
		       (void *)K);
	space(pda);
	check(user_calls(T_K, 0x77), "spaces-user-page-a-again");
}

#define LG      0x58000000u    /* two 4 MiB pages: A, B in A; A, A in B */
static void test_large_pages(void)
{
	uint8_t *fa = (uint8_t *)PG_FRAME_A, *fb = (uint8_t *)PG_FRAME_B;
	emit_ret(fa + 0x100, 0xa1);
	emit_ret(fa + 0x3ff100, 0xa2);
	emit_ret(fb + 0x100, 0xb1);
	write_cr4(read_cr4() | CR4_PSE);
	pg_map_4m(pda, LG, PG_FRAME_A, PG_P | PG_W);
	pg_map_4m(pda, LG + 0x400000, PG_FRAME_B, PG_P | PG_W);
	pg_map_4m(pdb, LG, PG_FRAME_A, PG_P | PG_W);
	pg_map_4m(pdb, LG + 0x400000, PG_FRAME_A, PG_P | PG_W);
	int ok = 1;
	for (int i = 0; i < 20; i++) {
		space(i & 1 ? pdb : pda);
		ok &= calls(LG + 0x100, 0xa1);
		ok &= calls(LG + 0x3ff100, 0xa2);
		ok &= calls(LG + 0x400100, i & 1 ? 0xa1 : 0xb1);
	}
	check(ok, "spaces-large-pages");
	*pg_pde(pda, LG) = *pg_pde(pda, LG + 0x400000) = 0;
	*pg_pde(pdb, LG) = *pg_pde(pdb, LG + 0x400000) = 0;
	space(pda);
	write_cr4(read_cr4() & ~CR4_PSE);
}

void test_main(void)
{
	guest_init();
	ring_init();
	pg_init();
	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W | PG_U);
	write_cr4(read_cr4() & ~(CR4_PSE | CR4_PGE));
	pg_on(kpd);
	setup();
	/* CR3 loads under CR4.PGE, as Linux does them (no page here is global). */
	write_cr4(read_cr4() | CR4_PGE);
	test_alternate();
	test_changed_while_away();
	test_shared_code_changed();
	test_shared_page();
	test_user_page();
	test_large_pages();
	write_cr4(read_cr4() & ~CR4_PGE);
	/* The same without CR4.PGE. */
	space(pdb);
	check(calls(T_S_B, 0xb0) & calls(T_S, 0xb0), "nopge-b");
	space(pda);
	check(calls(T_S_A, 0xa0) & calls(T_S, 0xa0), "nopge-a");
	space(kpd);
	pg_off();
}
