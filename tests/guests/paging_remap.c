/*
 * paging_remap.c - a changed translation is seen after the invalidation the SDM asks
 * for, whichever way the engine keeps its mappings (SDM Vol. 3A, 4.10.4 "Invalidation
 * of TLBs and Paging-Structure Caches"): PTEs written with A already set (as Linux
 * writes them) and changed to another frame, to fewer rights, to a clean page or to
 * not present, then INVLPG; and the same changes made to the tables of an address
 * space that is not current, seen when a CR3 load switches back to it, including a
 * page table that was replaced and reused while its directory was away; and a data
 * breakpoint's page, which neither may map behind the breakpoint's back.
 *
 * trapeze maps such a page again at the invalidation, in the same host call that drops
 * the old mapping (docs/architecture.md, "Paging"); these checks fail if that mapping
 * is stale, has more rights than the entry, or sets A or D the guest has not earned.
 */
#include "guest.h"
#include "paging.h"

#define L       0x30000000u     /* the page under test, in every directory */
#define L2      0x30001000u     /* its neighbour: the second page of a ping-pong */
#define R       0x34000000u     /* a 4 MiB region whose page table is replaced */

static pte_t *pa, *pb;          /* two address spaces sharing the kernel */

/* A pool page whose dword i holds tag + i. */
static uint32_t *tagged_page(uint32_t tag)
{
	uint32_t *p = pg_alloc();
	for (int i = 0; i < 1024; i++)
		p[i] = tag + i;
	return p;
}

static uint32_t frame(const uint32_t *p) { return (uint32_t)p; }

/* ---- INVLPG, PTEs written accessed ---- */

static void test_invlpg(void)
{
	uint32_t *x = tagged_page(0x11110000), *y = tagged_page(0x22220000);
	uint32_t *z = tagged_page(0x33330000);
	pte_t *pte = pg_pte(pa, L);

	*pte = frame(x) | PG_P | PG_W | PG_A;
	check_eq("invlpg-a-initial", pg_rd(L + 4), 0x11110001);
	*pte = frame(y) | PG_P | PG_W | PG_A;
	invlpg(L);
	check_eq("invlpg-a-new-frame", pg_rd(L + 4), 0x22220001);
	check_eq("invlpg-a-read-leaves-clean", *pte & PG_D, 0);
	pg_wr(L + 8, 0x2222eeee);
	check(y[2] == 0x2222eeee && x[2] == 0x11110002, "invlpg-a-write-reaches-new-frame");
	check_eq("invlpg-a-write-sets-dirty", *pte & PG_D, PG_D);

	/* Writable and dirty: the write goes straight to the new frame. */
	*pte = frame(z) | PG_P | PG_W | PG_A | PG_D;
	invlpg(L);
	pg_wr(L + 12, 0x3333dddd);
	check(z[3] == 0x3333dddd && y[3] == 0x22220003, "invlpg-ad-write-new-frame");

	/* Back to a frame the page mapped before, dirty but read-only: WP = 1 faults. */
	*pte = frame(y) | PG_P | PG_A | PG_D;
	invlpg(L);
	pg_set_wp(1);
	check_eq("invlpg-ro-read", pg_rd(L + 8), 0x2222eeee);
	PF_EXPECT("invlpg-ro-write-faults", PF_P | PF_W, L + 12, pg_wr_insn, pg_wr(L + 12, 0));
	check_eq("invlpg-ro-write-left-frame", y[3], 0x22220003);
	pg_set_wp(0);

	/* Writable but clean: mapped for reads; the write sets D and lands. */
	*pte = frame(x) | PG_P | PG_W | PG_A;
	invlpg(L);
	check_eq("invlpg-clean-read", pg_rd(L + 16), 0x11110004);
	check_eq("invlpg-clean-stays-clean", *pte & PG_D, 0);
	pg_inc(L + 16);
	check(x[4] == 0x11110005 && (*pte & PG_D), "invlpg-clean-rmw-sets-dirty");

	/* A clear: the access sets it, not the invalidation (an OS that ages its pages
	 * by clearing A must not find every page used). */
	*pte = frame(z) | PG_P | PG_W;
	invlpg(L);
	check_eq("invlpg-no-a-invalidation-leaves-a-clear", *pte & PG_A, 0);
	check_eq("invlpg-no-a-read", pg_rd(L + 4), 0x33330001);
	check_eq("invlpg-no-a-read-sets-a", *pte & (PG_A | PG_D), PG_A);

	*pte = 0;
	invlpg(L);
	PF_EXPECT("invlpg-not-present-faults", 0, L + 4, pg_rd_insn, pg_rd(L + 4));
}

/* ---- CR3 loads: the tables of an address space that is not current ---- */

static void test_switch(void)
{
	uint32_t *xa = tagged_page(0x44440000), *xb = tagged_page(0x55550000);
	uint32_t *xc = tagged_page(0x66660000), *xd = tagged_page(0x77770000);
	pte_t *ea = pg_pte(pa, L), *eb = pg_pte(pb, L);

	*ea = frame(xa) | PG_P | PG_W | PG_A;
	*eb = frame(xb) | PG_P | PG_W | PG_A;
	write_cr3((uint32_t)pa);
	check_eq("switch-a-initial", pg_rd(L), 0x44440000);
	write_cr3((uint32_t)pb);
	check_eq("switch-b-initial", pg_rd(L), 0x55550000);

	/* Changed while B runs: A's next turn sees it. */
	*ea = frame(xc) | PG_P | PG_W | PG_A;
	write_cr3((uint32_t)pa);
	check_eq("switch-a-changed-away-accessed", pg_rd(L + 4), 0x66660001);
	write_cr3((uint32_t)pb);
	check_eq("switch-b-unchanged", pg_rd(L + 4), 0x55550001);

	*ea = frame(xd) | PG_P | PG_W;
	write_cr3((uint32_t)pa);
	check_eq("switch-a-changed-away-clean-a", *ea & PG_A, 0);
	check_eq("switch-a-changed-away-not-accessed", pg_rd(L + 8), 0x77770002);
	check_eq("switch-a-access-sets-a", *ea & PG_A, PG_A);

	/* Written in A (dirty), made read-only while away: a write faults on return. */
	pg_wr(L + 12, 0x7777cccc);
	write_cr3((uint32_t)pb);
	*ea = frame(xd) | PG_P | PG_A | PG_D;
	pg_set_wp(1);
	write_cr3((uint32_t)pa);
	check_eq("switch-a-read-only-read", pg_rd(L + 12), 0x7777cccc);
	PF_EXPECT("switch-a-read-only-write-faults", PF_P | PF_W, L + 12, pg_wr_insn,
		  pg_wr(L + 12, 0));
	pg_set_wp(0);

	/* Made writable but clean while away: the write on return sets D. */
	write_cr3((uint32_t)pb);
	*ea = frame(xc) | PG_P | PG_W | PG_A;
	write_cr3((uint32_t)pa);
	pg_wr(L + 16, 0x6666bbbb);
	check(xc[4] == 0x6666bbbb && (*ea & PG_D) && xd[4] == 0x77770004,
	      "switch-a-clean-write-sets-dirty");

	/* Made not present while away. */
	write_cr3((uint32_t)pb);
	*ea = 0;
	write_cr3((uint32_t)pa);
	PF_EXPECT("switch-a-not-present-faults", 0, L + 4, pg_rd_insn, pg_rd(L + 4));

	/* Many turns, each changing the other directory's entries for two pages. */
	uint32_t *f[4] = { xa, xb, xc, xd };
	pte_t *ea2 = pg_pte(pa, L2), *eb2 = pg_pte(pb, L2);
	int bad = 0;
	for (int i = 0; i < 64 && !bad; i++) {
		pte_t *e = i & 1 ? ea : eb, *e2 = i & 1 ? ea2 : eb2;
		uint32_t *p = f[i & 3], *q = f[(i + 1) & 3];
		*e = frame(p) | PG_P | PG_W | PG_A;
		*e2 = frame(q) | PG_P | PG_W | PG_A;
		write_cr3((uint32_t)(i & 1 ? pa : pb));
		if (pg_rd(L + 20) != p[5] || pg_rd(L2 + 24) != q[6]) {
			fail("switch-ping-pong", "turn %d: %08x %08x want %08x %08x", i,
			     pg_rd(L + 20), pg_rd(L2 + 24), p[5], q[6]);
			bad = 1;
		}
	}
	if (!bad)
		pass("switch-ping-pong");
	*ea2 = *eb2 = 0;
	write_cr3((uint32_t)pa);
}

/* A page table replaced in the directory of an address space that is not current, and
 * the old table reused for something else: the switch back uses the new table only. */
static void test_table_reuse(void)
{
	uint32_t *x = tagged_page(0x88880000), *y = tagged_page(0x99990000);
	uint32_t *z = tagged_page(0xaaaa0000);
	pte_t *t1 = pg_alloc(), *t2 = pg_alloc();

	t1[0] = frame(x) | PG_P | PG_W | PG_A;
	t1[1] = frame(y) | PG_P | PG_W | PG_A;
	*pg_pde(pa, R) = (uint32_t)t1 | PG_P | PG_W | PG_U | PG_A;
	*pg_pde(pb, R) = 0;
	write_cr3((uint32_t)pa);
	check(pg_rd(R) == 0x88880000 && pg_rd(R + 0x1000) == 0x99990000, "table-reuse-initial");

	write_cr3((uint32_t)pb);
	t2[0] = frame(z) | PG_P | PG_W | PG_A;
	*pg_pde(pa, R) = (uint32_t)t2 | PG_P | PG_W | PG_U | PG_A;
	/* The old table becomes B's, mapping other frames. */
	t1[0] = frame(y) | PG_P | PG_W | PG_A;
	t1[1] = frame(z) | PG_P | PG_W | PG_A;
	*pg_pde(pb, R) = (uint32_t)t1 | PG_P | PG_W | PG_U | PG_A;
	write_cr3((uint32_t)pb);
	check(pg_rd(R) == 0x99990000 && pg_rd(R + 0x1000) == 0xaaaa0000, "table-reuse-b-uses-old-table");

	write_cr3((uint32_t)pa);
	check_eq("table-reuse-a-new-table", pg_rd(R + 4), 0xaaaa0001);
	PF_EXPECT("table-reuse-a-old-entry-gone", 0, R + 0x1000, pg_rd_insn, pg_rd(R + 0x1000));
	*pg_pde(pa, R) = *pg_pde(pb, R) = 0;
	pg_flush();
}

/*
 * A directory entry changed to another page table under a page already mapped, with no
 * invalidation, and a page of the new table used before the flush: the flush must drop
 * the first page's mapping. trapeze keeps a slot's mappings across a flush when the
 * table entries they were made from compare equal to a copy (shadowmmu/ptsnap.c);
 * this fails if the second page's walk, which read the new directory entry, simply
 * replaces the copy the first page's mapping depends on.
 */
#define R2      0x38000000u
static void test_dir_entry_changed(void)
{
	uint32_t *x = tagged_page(0xdddd0000), *y = tagged_page(0xeeee0000);
	uint32_t *z = tagged_page(0xffff0000);
	pte_t *t1 = pg_alloc(), *t2 = pg_alloc();

	t1[0] = frame(x) | PG_P | PG_W | PG_A;
	t1[512] = frame(y) | PG_P | PG_W | PG_A;
	*pg_pde(pa, R2) = (uint32_t)t1 | PG_P | PG_W | PG_U | PG_A;
	pg_flush();
	check_eq("dir-entry-initial", pg_rd(R2 + 4), 0xdddd0001);
	/* Half a table away: no mapping made ahead of the first fault reaches it. */
	t2[0] = frame(z) | PG_P | PG_W | PG_A;
	t2[512] = frame(y) | PG_P | PG_W | PG_A;
	*pg_pde(pa, R2) = (uint32_t)t2 | PG_P | PG_W | PG_U | PG_A;
	check_eq("dir-entry-new-table-page", pg_rd(R2 + 0x200008), 0xeeee0002);
	pg_flush();
	check_eq("dir-entry-changed-old-page-after-flush", pg_rd(R2 + 4), 0xffff0001);
	*pg_pde(pa, R2) = 0;
	pg_flush();
}

/*
 * A page taken away (its entry made not present, then INVLPG or a CR3 load away and
 * back) and given back: with the same frame and fewer rights, with another frame, and
 * after a change of CR0.WP that drops every mapping. trapeze leaves the host mapping of
 * such a page in place with no access and gives it back with an mprotect when the same
 * frame returns (docs/architecture.md, "Parked pages"); these fail if it comes back
 * with the rights it had, or the frame it had when the entry names another, or the
 * parked frame after everything was dropped.
 */
#define L4      0x30005000u
static void test_park(void)
{
	uint32_t *x = tagged_page(0x12120000), *y = tagged_page(0x34340000);
	pte_t *e = pg_pte(pa, L4);
	write_cr3((uint32_t)pa);
	pg_set_wp(1);
	*e = frame(x) | PG_P | PG_W | PG_A | PG_D;
	invlpg(L4);
	pg_wr(L4 + 4, 0x1212aaaa);
	*e = 0;
	invlpg(L4);
	PF_EXPECT("park-not-present-faults", 0, L4 + 4, pg_rd_insn, pg_rd(L4 + 4));
	*e = frame(x) | PG_P | PG_A | PG_D;
	invlpg(L4);
	check_eq("park-same-frame-read-only-read", pg_rd(L4 + 4), 0x1212aaaa);
	PF_EXPECT("park-same-frame-read-only-write-faults", PF_P | PF_W, L4 + 8, pg_wr_insn,
		  pg_wr(L4 + 8, 0));
	check_eq("park-same-frame-read-only-left-frame", x[2], 0x12120002);

	*e = frame(y) | PG_P | PG_W | PG_A | PG_D;
	invlpg(L4);
	pg_wr(L4 + 8, 0x3434bbbb);
	*e = 0;
	invlpg(L4);
	*e = frame(x) | PG_P | PG_W | PG_A | PG_D;
	invlpg(L4);
	check_eq("park-other-frame-read", pg_rd(L4 + 8), 0x12120002);
	pg_wr(L4 + 12, 0x1212cccc);
	check(x[3] == 0x1212cccc && y[3] == 0x34340003 && y[2] == 0x3434bbbb,
	      "park-other-frame-write");

	/* Taken away by a CR3 load: not present while A was away. */
	write_cr3((uint32_t)pb);
	*e = 0;
	write_cr3((uint32_t)pa);
	PF_EXPECT("park-switch-not-present-faults", 0, L4 + 4, pg_rd_insn, pg_rd(L4 + 4));
	write_cr3((uint32_t)pb);
	*e = frame(x) | PG_P | PG_A | PG_D;
	write_cr3((uint32_t)pa);
	check_eq("park-switch-read-only-read", pg_rd(L4 + 12), 0x1212cccc);
	PF_EXPECT("park-switch-read-only-write-faults", PF_P | PF_W, L4 + 16, pg_wr_insn,
		  pg_wr(L4 + 16, 0));

	/* Taken away, then every mapping dropped (CR0.WP changes the rights of all). */
	*e = 0;
	invlpg(L4);
	pg_set_wp(0);
	*e = frame(x) | PG_P | PG_W | PG_A | PG_D;
	invlpg(L4);
	check_eq("park-after-drop-all-read", pg_rd(L4 + 12), 0x1212cccc);
	pg_wr(L4 + 20, 0x1212dddd);
	check_eq("park-after-drop-all-write", x[5], 0x1212dddd);
	*e = 0;
	invlpg(L4);
}

/* ---- a data breakpoint's page stays unmapped whatever maps pages at once ---- */

#define L3      0x30003000u
static volatile uint32_t db_hits;
static void hook_db(struct frame *f)
{
	(void)f;
	uint32_t dr6;
	__asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
	__asm__ volatile("mov %0, %%dr6" :: "r"(0u));
	if (dr6 & 1)
		db_hits++;
}

static void test_watch(void)
{
	uint32_t *w = tagged_page(0xbbbb0000), *v = tagged_page(0xcccc0000);
	pte_t *e = pg_pte(pa, L3);
	*e = frame(w) | PG_P | PG_W | PG_A;
	write_cr3((uint32_t)pa);
	check_eq("watch-initial", pg_rd(L3 + 8), 0xbbbb0002);   /* in A's working set now */
	exc_set_hook(1, hook_db);
	db_hits = 0;
	__asm__ volatile("mov %0, %%dr0" :: "r"(L3 + 8));
	__asm__ volatile("mov %0, %%dr7" :: "r"(0x000f0001u));  /* L0, read/write, 4 bytes */
	pg_rd(L3 + 8);
	check_eq("watch-read-fires", db_hits, 1);
	write_cr3((uint32_t)pb);
	write_cr3((uint32_t)pa);                                /* A's pages come back */
	pg_rd(L3 + 8);
	check_eq("watch-after-switch-back-fires", db_hits, 2);
	*e = frame(v) | PG_P | PG_W | PG_A;
	invlpg(L3);                                             /* mapped again at once */
	check_eq("watch-after-invlpg-new-frame", pg_rd(L3 + 8), 0xcccc0002);
	check_eq("watch-after-invlpg-fires", db_hits, 3);
	pg_rd(L3 + 16);
	check_eq("watch-elsewhere-on-page-quiet", db_hits, 3);
	__asm__ volatile("mov %0, %%dr7" :: "r"(0u));
	*e = 0;
	invlpg(L3);
}

void test_main(void)
{
	guest_init();
	idt_init();
	pg_init();
	pa = pg_dir();
	pb = pg_dir();
	pg_identity(pa, PG_P | PG_W);
	pg_share_identity(pb, pa);
	pg_on(pa);
	test_invlpg();
	test_switch();
	test_table_reuse();
	test_dir_entry_changed();
	test_park();
	test_watch();
	pg_off();
}
