/*
 * aspace_keep.c - address spaces whose translations an engine may keep across CR3
 * loads (a host process or a set of mappings per page directory, re-checked when the
 * directory is current again) must never run on a mapping that outlives a change of
 * the guest's tables. A CR3 load invalidates every non-global translation, INVLPG a
 * page's translation global or not, and a change of CR4.PGE all of them (SDM Vol. 3A,
 * 4.10.4.1); with no PCIDs the TLB has no notion of address space, so a translation
 * made in one directory and invalidated in another is gone for both.
 *
 * Six directories (more than an engine's few recent ones) take turns with private
 * data at one linear address; the tables of a directory that is not current change
 * (another frame, fewer rights, not present, A and D cleared, its page table replaced
 * and the old one reused, a user page made supervisor-only) with no INVLPG, and its
 * next turn must see them; a global page changed and invalidated in another space;
 * and code on one frame, patched through another space's writable mapping.
 * Every check is named keep-*.
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define NSPACES 6
#define ROUNDS  60

/* Linear pages under test: one page table per directory for 0x60000000..0x603fffff. */
#define UPG     0x50000000u     /* a user page made supervisor-only away (X) */
#define UPG2    0x50001000u     /* a user page made read-only away (X) */
#define DATA    0x60000000u     /* private frame per space: id, counter */
#define DATA2   0x60001000u     /* a second private frame per space */
#define E       0x60010000u     /* frame, rights and presence changed away (X) */
#define ADP     0x60020000u     /* A and D cleared away (X) */
#define CODE    0x60030000u     /* code frame K: read-only in X, writable in Y */
#define CODEW   0x60031000u     /* K again, writable in X and Y */
#define CALLER  0x60032000u     /* call CODE; ret (one frame, X and Y) */
#define R       0x68000000u     /* a 4 MiB region whose page table is replaced (X) */
#define GLB     0x6c000000u     /* global pages, one page table shared by all */
#define GLB2    0x6c001000u
#define FL_U    0x2u            /* EFLAGS for ring 3: bit 1, IF clear */

static pte_t *kpd, *sp[NSPACES];
#define X (sp[0])
#define Y (sp[1])
#define Z (sp[2])

static void space(pte_t *pd) { write_cr3((uint32_t)pd); }

/* ---- data frames: 4 KiB pages of PG_FRAME_A (identity-mapped, unused by the pool) ---- */

static uint32_t frames_used;

/* A frame whose dword i holds tag + i. */
static uint32_t *frame_new(uint32_t tag)
{
	uint32_t *p = (uint32_t *)(PG_FRAME_A + frames_used++ * PAGE);
	for (int i = 0; i < 1024; i++)
		p[i] = tag + i;
	return p;
}

static uint32_t frame(const volatile void *p) { return (uint32_t)p; }

/* ---- ring 3: a read and a write of the linear address given as argument ---- */

USER_INSN(urd, "movl 4(%esp), %ecx", "movl (%ecx), %eax");
USER_INSN(uwr, "movl 4(%esp), %ecx", "movl %ecx, (%ecx)");

/* PASS when the ring-3 routine fn, given lin, raises #PF with error err at its
 * instruction at, with CR2 lin. */
static void user_pf(const char *name, const void *fn, uint32_t lin, uint32_t err, const void *at)
{
	pf_reset();
	int v = EXC(user_run((uint32_t)fn, lin, FL_U));
	if (v == VEC_PF && pf.cs != SEL_UCODE)
		fail(name, "frame cs %x want %x", pf.cs, SEL_UCODE);
	else
		pf_expect_mask(name, v, err, 0xffffffffu, lin, at);
}

/* The value a ring-3 read of lin returns, or 0xdeadbeef if it raised anything. */
static uint32_t user_read(uint32_t lin)
{
	volatile uint32_t r = 0xdeadbeef;
	if (EXC(r = user_run((uint32_t)u_urd, lin, FL_U)) != -1)
		return 0xdeadbeef;
	return r;
}

/* ---- 1: more spaces than an engine keeps, round robin ---- */

static uint32_t *priv[NSPACES][2];

static uint32_t id_of(int i, int page) { return 0x5e000000u | (uint32_t)i << 16 | (uint32_t)page << 12; }

static void setup_private(void)
{
	for (int i = 0; i < NSPACES; i++) {
		priv[i][0] = frame_new(0);
		priv[i][0][0] = id_of(i, 0);
		priv[i][0][1] = 0;              /* the counter */
		priv[i][1] = frame_new(id_of(i, 1));
		pg_map(sp[i], DATA, frame(priv[i][0]), PG_P | PG_W);
		pg_map(sp[i], DATA2, frame(priv[i][1]), PG_P | PG_W);
	}
}

/* Each turn reads the space's own id through both pages, checks and increments its
 * counter and writes the round into the second page. */
static void test_round_robin(void)
{
	int bad = 0;
	for (int r = 0; r < ROUNDS && !bad; r++)
		for (int i = 0; i < NSPACES && !bad; i++) {
			space(sp[i]);
			uint32_t id = pg_rd(DATA), n = pg_rd(DATA + 4);
			uint32_t id2 = pg_rd(DATA2 + 8);
			if (id != id_of(i, 0) || n != (uint32_t)r || id2 != id_of(i, 1) + 2) {
				fail("keep-round-robin", "round %d space %d: id %08x counter %u page2 %08x "
				     "want %08x %u %08x", r, i, id, n, id2, id_of(i, 0), r, id_of(i, 1) + 2);
				bad = 1;
			}
			pg_inc(DATA + 4);
			pg_wr(DATA2 + 12, r);
		}
	if (!bad)
		pass("keep-round-robin");
	space(kpd);
	int ok = 1;
	for (int i = 0; i < NSPACES; i++)
		ok &= priv[i][0][1] == ROUNDS && priv[i][1][3] == ROUNDS - 1 &&
		      priv[i][0][0] == id_of(i, 0) && priv[i][1][2] == id_of(i, 1) + 2;
	check(ok, "keep-round-robin-frames");
}

/* The same turns, each space's second page moved between two frames by the space
 * before it (so while it is not current, and perhaps no longer among an engine's
 * recent ones), with A and D set or clear; the turn's write lands in the new frame. */
static void test_round_robin_remapped(void)
{
	uint32_t *alt[NSPACES];
	for (int i = 0; i < NSPACES; i++)
		alt[i] = frame_new(id_of(i, 2));
	int bad = 0;
	for (int r = 0; r < ROUNDS / 2 && !bad; r++)
		for (int i = 0; i < NSPACES && !bad; i++) {
			uint32_t *to = (r + i) & 1 ? alt[i] : priv[i][1];
			uint32_t ad = r & 2 ? PG_A | PG_D : 0;
			*pg_pte(sp[i], DATA2) = frame(to) | PG_P | PG_W | ad;
			space(sp[i]);
			uint32_t got = pg_rd(DATA2 + 8);
			pg_wr(DATA2 + 16, 0x7700 + r);
			if (got != to[2] || to[4] != 0x7700u + r) {
				fail("keep-round-robin-remapped-away", "round %d space %d: read %08x "
				     "want %08x, write landed %s", r, i, got, to[2],
				     to[4] == 0x7700u + r ? "right" : "elsewhere");
				bad = 1;
			}
		}
	if (!bad)
		pass("keep-round-robin-remapped-away");
	space(kpd);
}

/* ---- 2: X's entry changed while Y runs, no INVLPG anywhere ---- */

/* X uses E for reads and writes, a few turns, so that an engine holds it as X's. */
static void use_in_x(uint32_t lin)
{
	for (int k = 0; k < 3; k++) {
		space(X);
		pg_rd(lin);
		pg_wr(lin + 0x40, pg_rd(lin + 0x40));
		space(Y);
		pg_rd(DATA);
	}
	space(X);
	pg_rd(lin);
	pg_wr(lin + 0x40, pg_rd(lin + 0x40));
	space(Y);
}

static void test_changed_away(void)
{
	uint32_t *e1 = frame_new(0x21000000), *e2 = frame_new(0x22000000);
	pte_t *pte = pg_pte(X, E);

	*pte = frame(e1) | PG_P | PG_W;
	use_in_x(E);
	*pte = frame(e2) | PG_P | PG_W | PG_A | PG_D;        /* as Linux writes them */
	space(X);
	check_eq("keep-frame-changed-away-accessed", pg_rd(E + 4), 0x22000001);
	pg_wr(E + 8, 0x2200aaaa);
	check(e2[2] == 0x2200aaaa && e1[2] == 0x21000002, "keep-frame-changed-away-write");

	use_in_x(E);
	*pte = frame(e1) | PG_P | PG_W;                      /* A clear */
	space(X);
	check_eq("keep-frame-changed-away-clean", pg_rd(E + 4), 0x21000001);
	check_eq("keep-frame-changed-away-clean-sets-a", *pte & (PG_A | PG_D), PG_A);

	/* Made read-only while away (written and dirty before): CR0.WP = 1 faults. */
	space(Y);
	*pte = frame(e2) | PG_P | PG_W | PG_A | PG_D;
	use_in_x(E);
	*pte = frame(e2) | PG_P | PG_A | PG_D;
	space(X);
	check_eq("keep-read-only-away-read", pg_rd(E + 8), 0x2200aaaa);
	PF_EXPECT("keep-read-only-away-write-faults", PF_P | PF_W, E + 12, pg_wr_insn,
		  pg_wr(E + 12, 0xbad));
	PF_EXPECT("keep-read-only-away-rmw-faults", PF_P | PF_W, E + 16, pg_inc_insn,
		  pg_inc(E + 16));
	check(e2[3] == 0x22000003 && e2[4] == 0x22000004, "keep-read-only-away-frame-unchanged");

	/* Made not present while away (the frame stays in the entry, P clear). */
	space(Y);
	*pte = frame(e2) | PG_P | PG_W | PG_A | PG_D;
	use_in_x(E);
	*pte = frame(e2) | PG_W | PG_A | PG_D;
	space(X);
	PF_EXPECT("keep-not-present-away-read-faults", 0, E + 4, pg_rd_insn, pg_rd(E + 4));
	PF_EXPECT("keep-not-present-away-write-faults", PF_W, E + 20, pg_wr_insn,
		  pg_wr(E + 20, 0xbad));
	check_eq("keep-not-present-away-frame-unchanged", e2[5], 0x22000005);
	space(Y);
	*pte = 0;
}

/* ---- 3: accessed and dirty bits cleared while away ---- */

static void test_ad_cleared(void)
{
	uint32_t *f = frame_new(0x31000000);
	pte_t *pte = pg_pte(X, ADP);

	*pte = frame(f) | PG_P | PG_W;
	space(X);
	pg_rd(ADP);
	int ok = (*pte & (PG_A | PG_D)) == PG_A;
	pg_wr(ADP + 4, 0x3100aaaa);
	ok &= (*pte & (PG_A | PG_D)) == (PG_A | PG_D);
	check(ok, "keep-ad-initial");
	use_in_x(ADP);

	*pte &= ~(PG_A | PG_D);
	space(X);
	check_eq("keep-ad-cleared-away-switch-leaves-clear", *pte & (PG_A | PG_D), 0);
	check_eq("keep-ad-cleared-away-read", pg_rd(ADP + 4), 0x3100aaaa);
	check_eq("keep-ad-cleared-away-read-sets-a", *pte & (PG_A | PG_D), PG_A);
	pg_wr(ADP + 8, 0x3100bbbb);
	check(f[2] == 0x3100bbbb && (*pte & (PG_A | PG_D)) == (PG_A | PG_D),
	      "keep-ad-cleared-away-write-sets-d");

	/* D alone cleared (the page stays accessed): the write must set it. */
	use_in_x(ADP);
	*pte &= ~PG_D;
	space(X);
	check_eq("keep-d-cleared-away-read", pg_rd(ADP + 8), 0x3100bbbb);
	check_eq("keep-d-cleared-away-read-leaves-clean", *pte & (PG_A | PG_D), PG_A);
	pg_wr(ADP + 12, 0x3100cccc);
	check(f[3] == 0x3100cccc && (*pte & PG_D), "keep-d-cleared-away-write-sets-d");
	space(Y);
	*pte = 0;
}

/* ---- 4: a page table replaced while away, the old one overwritten and reused ---- */

static void test_table_reuse(void)
{
	uint32_t *r1 = frame_new(0x41000000), *r2 = frame_new(0x42000000);
	uint32_t *r3 = frame_new(0x43000000), *junk = frame_new(0x4f000000);
	uint32_t *r5 = frame_new(0x45000000);
	pte_t *f = pg_alloc(), *g = pg_alloc();

	f[0] = frame(r1) | PG_P | PG_W;
	f[1] = frame(r2) | PG_P | PG_W;
	*pg_pde(X, R) = frame(f) | PG_P | PG_W | PG_U;
	use_in_x(R);
	use_in_x(R + 0x1000);
	space(X);
	check(pg_rd(R) == 0x41000000 && pg_rd(R + 0x1004) == 0x42000001, "keep-table-initial");

	/* Away: X's directory points at G; F is overwritten with entries that map a
	 * frame of junk (no space uses F now). */
	space(Y);
	g[0] = frame(r3) | PG_P | PG_W;
	*pg_pde(X, R) = frame(g) | PG_P | PG_W | PG_U;
	for (int k = 0; k < 1024; k++)
		f[k] = frame(junk) | PG_P | PG_W | PG_U | PG_A | PG_D;
	space(X);
	check_eq("keep-table-replaced-away-new-table", pg_rd(R + 4), 0x43000001);
	PF_EXPECT("keep-table-replaced-away-old-entry-gone", 0, R + 0x1000, pg_rd_insn,
		  pg_rd(R + 0x1000));
	pg_wr(R + 8, 0x4300aaaa);
	check(r3[2] == 0x4300aaaa && r1[2] == 0x41000002 && junk[2] == 0x4f000002,
	      "keep-table-replaced-away-write");

	/* F becomes Z's table for R, mapping another frame and X's old second frame. */
	use_in_x(R);
	space(Z);
	for (int k = 0; k < 1024; k++)
		f[k] = 0;
	f[0] = frame(r5) | PG_P | PG_W;
	f[1] = frame(r1) | PG_P | PG_W;
	*pg_pde(Z, R) = frame(f) | PG_P | PG_W | PG_U;
	space(Z);
	check(pg_rd(R + 4) == 0x45000001 && pg_rd(R + 0x1000) == 0x41000000,
	      "keep-table-reused-by-other-space");
	space(X);
	check_eq("keep-table-reused-x-new-table", pg_rd(R + 4), 0x43000001);
	PF_EXPECT("keep-table-reused-x-old-entry-gone", 0, R + 0x1000, pg_rd_insn,
		  pg_rd(R + 0x1000));
	space(Z);
	check_eq("keep-table-reused-z-again", pg_rd(R + 4), 0x45000001);
	*pg_pde(Z, R) = 0;
	*pg_pde(X, R) = 0;
	space(Y);
}

/* ---- 5: global pages, changed in one space and invalidated there ---- */

static void test_global(void)
{
	uint32_t *g1 = frame_new(0x51000000), *g2 = frame_new(0x52000000);
	uint32_t *g3 = frame_new(0x53000000), *h1 = frame_new(0x54000000);
	uint32_t *h2 = frame_new(0x55000000);
	pte_t *gt = pg_alloc();
	const uint32_t gflags = PG_P | PG_W | PG_A | PG_D | PG_G;

	gt[0] = frame(g1) | gflags;
	gt[1] = frame(h1) | gflags;
	for (int i = 0; i < NSPACES; i++)
		*pg_pde(sp[i], GLB) = frame(gt) | PG_P | PG_W | PG_U | PG_A;

	/* GLB used in X and Y, GLB2 in X only. */
	int ok = 1;
	for (int k = 0; k < 3; k++) {
		space(X);
		ok &= pg_rd(GLB) == 0x51000000 && pg_rd(GLB2 + 4) == 0x54000001;
		space(Y);
		ok &= pg_rd(GLB + 4) == 0x51000001;
	}
	check(ok, "keep-global-initial");

	/* In Y: both changed and invalidated; X then walks to the new frames. */
	gt[0] = frame(g2) | gflags;
	gt[1] = frame(h2) | gflags;
	invlpg(GLB);
	invlpg(GLB2);
	space(X);
	check_eq("keep-global-invlpg-in-other-space", pg_rd(GLB + 8), 0x52000002);
	check_eq("keep-global-invlpg-untouched-in-other-space", pg_rd(GLB2 + 8), 0x55000002);
	space(Y);
	check_eq("keep-global-invlpg-this-space", pg_rd(GLB + 8), 0x52000002);

	/* In Y: changed without INVLPG, then CR4.PGE off and on (flushes every entry). */
	for (int k = 0; k < 2; k++) {
		space(X);
		pg_rd(GLB);
		space(Y);
		pg_rd(GLB);
	}
	gt[0] = frame(g3) | gflags;
	write_cr4(read_cr4() & ~CR4_PGE);
	write_cr4(read_cr4() | CR4_PGE);
	space(X);
	check_eq("keep-global-pge-toggled-in-other-space", pg_rd(GLB + 12), 0x53000003);
	space(Y);
	check_eq("keep-global-pge-toggled-this-space", pg_rd(GLB + 12), 0x53000003);
	for (int i = 0; i < NSPACES; i++)
		*pg_pde(sp[i], GLB) = 0;
	write_cr4(read_cr4() & ~CR4_PGE);       /* drops the global entries */
	write_cr4(read_cr4() | CR4_PGE);
}

/* ---- 6: one frame of code, patched through another space's mapping ---- */

static void put32(volatile uint8_t *q, uint32_t v) { *(volatile uint32_t *)q = v; }

/* mov $v, %eax; ret */
static void emit_ret(volatile uint8_t *q, uint32_t v)
{
	q[0] = 0xb8;
	put32(q + 1, v);
	q[5] = 0xc3;
}

/* Each call a few times: the later ones may run what the translator kept. */
static int calls(uint32_t lin, uint32_t want)
{
	int ok = 1;
	for (int k = 0; k < 3; k++)
		ok &= pg_call(lin) == want;
	return ok;
}

static void test_code(void)
{
	uint8_t *k = (uint8_t *)frame_new(0), *t = (uint8_t *)frame_new(0);
	emit_ret(k, 0x600);
	t[0] = 0xe8;                                    /* call CODE; ret */
	put32(t + 1, CODE - (CALLER + 5));
	t[5] = 0xc3;
	/* Written accessed and dirty, as Linux writes them: a writable mapping of K may
	 * then outlast a CR3 load, and must be write-protected whenever K holds code. */
	pg_map(X, CODE, frame(k), PG_P | PG_A);
	pg_map(Y, CODE, frame(k), PG_P | PG_W | PG_A | PG_D);
	pg_map(X, CODEW, frame(k), PG_P | PG_W | PG_A | PG_D);
	pg_map(Y, CODEW, frame(k), PG_P | PG_W | PG_A | PG_D);
	pg_map(X, CALLER, frame(t), PG_P);
	pg_map(Y, CALLER, frame(t), PG_P);

	/* X runs it; Y patches it, through CODE and CODEW in turn. */
	int bad = 0;
	uint32_t v = 0x600;
	for (int i = 0; i < 8 && !bad; i++) {
		space(X);
		if (!calls(CALLER, v) || !calls(CODE, v)) {
			fail("keep-code-patched-in-other-space", "round %d: %08x want %08x", i,
			     pg_call(CODE), v);
			bad = 1;
		}
		space(Y);
		v = 0x600 + i + 1;
		emit_ret((volatile uint8_t *)(i & 1 ? CODEW : CODE), v);
		if (!bad && i % 3 == 2 && !calls(CODE, v)) {
			fail("keep-code-patched-in-other-space", "round %d in Y: %08x want %08x",
			     i, pg_call(CODE), v);
			bad = 1;
		}
	}
	if (!bad)
		pass("keep-code-patched-in-other-space");

	/* The other way: Y runs it, X patches it through its writable alias. */
	bad = 0;
	for (int i = 0; i < 6 && !bad; i++) {
		space(Y);
		if (!calls(CALLER, v) || !calls(CODE, v)) {
			fail("keep-code-patched-from-read-only-space", "round %d: %08x want %08x",
			     i, pg_call(CODE), v);
			bad = 1;
		}
		space(X);
		v = 0x700 + i;
		emit_ret((volatile uint8_t *)CODEW, v);
		if (!bad && i & 1 && !calls(CODE, v)) {
			fail("keep-code-patched-from-read-only-space", "round %d in X: %08x want %08x",
			     i, pg_call(CODE), v);
			bad = 1;
		}
	}
	if (!bad)
		pass("keep-code-patched-from-read-only-space");
	space(X);
	PF_EXPECT("keep-code-read-only-in-x", PF_P | PF_W, CODE + 1, (void *)0,
		  put32((volatile uint8_t *)CODE + 1, 0));
	space(Y);
}

/* ---- 7: a user page made supervisor-only (and one made read-only) while away ---- */

static void test_user(void)
{
	uint32_t *u = frame_new(0x71000000), *u2 = frame_new(0x72000000);
	pte_t *pte = pg_pte(X, UPG), *pte2 = pg_pte(X, UPG2);

	*pte = frame(u) | PG_P | PG_W | PG_U;
	*pte2 = frame(u2) | PG_P | PG_W | PG_U;
	int ok = 1;
	for (int k = 0; k < 3; k++) {
		space(X);
		ok &= user_read(UPG + 4) == 0x71000001;
		ok &= EXC(user_run((uint32_t)u_uwr, UPG2 + 8, FL_U)) == -1 && u2[2] == UPG2 + 8;
		space(Y);
	}
	check(ok, "keep-user-initial");

	*pte = frame(u) | PG_P | PG_W | PG_A | PG_D;         /* U clear */
	space(X);
	user_pf("keep-user-made-supervisor-away-read-faults", u_urd, UPG + 4, PF_P | PF_U,
		u_urd_at);
	check_eq("keep-user-made-supervisor-away-kernel-reads", pg_rd(UPG + 4), 0x71000001);
	check_eq("keep-user-made-supervisor-away-user-other-page", user_read(UPG2 + 8), UPG2 + 8);

	space(Y);
	*pte2 = frame(u2) | PG_P | PG_U | PG_A | PG_D;      /* W clear */
	space(X);
	check_eq("keep-user-made-read-only-away-read", user_read(UPG2 + 8), UPG2 + 8);
	user_pf("keep-user-made-read-only-away-write-faults", u_uwr, UPG2 + 12,
		PF_P | PF_W | PF_U, u_uwr_at);
	check_eq("keep-user-made-read-only-away-frame-unchanged", u2[3], 0x72000003);
	space(Y);
	*pte = *pte2 = 0;
}

void test_main(void)
{
	guest_init();
	ring_init();
	pg_init();
	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W | PG_U);
	for (int i = 0; i < NSPACES; i++) {
		sp[i] = pg_dir();
		pg_share_identity(sp[i], kpd);
	}
	setup_private();
	write_cr4(read_cr4() & ~CR4_PSE);
	pg_on(kpd);
	/* WP and PGE once, before any test page is used: a change of either flushes
	 * everything, which would hide a stale mapping. */
	pg_set_wp(1);
	write_cr4(read_cr4() | CR4_PGE);
	test_round_robin();
	test_round_robin_remapped();
	test_changed_away();
	test_ad_cleared();
	test_table_reuse();
	test_global();
	test_code();
	test_user();
	space(kpd);
	pg_set_wp(0);
	write_cr4(read_cr4() & ~CR4_PGE);
	pg_off();
}
