/*
 * paging.c - 32-bit paging at CPL 0 (SDM Vol. 3A, chapter 4): the kernel mapped 1:1
 * and a higher-half alias; 4 MiB pages with CR4.PSE, and a PS=1 PDE read as a
 * page-table pointer while CR4.PSE = 0; demand paging from a #PF handler (a PTE, or a
 * PDE and then a PTE, made present; REP MOVS across unmapped pages); not-present,
 * write-protect (CR0.WP) and reserved-bit faults with their error codes and CR2;
 * accessed and dirty bits; what INVLPG, a CR3 load, toggling CR4.PGE and clearing
 * CR0.PG guarantee about the translations used next; aliases; 40960 pages in use at
 * once; paging off again.
 *
 * Only what the SDM guarantees is checked. In particular a translation left stale by a
 * changed entry (no invalidation yet, or a global page across a CR3 load) may be used
 * or not (4.10.4.3), so no check depends on it.
 */
#include "guest.h"
#include "paging.h"

#define HIGH      0xc0000000u   /* higher-half alias of one kernel page */
#define LARGE     0x40000000u   /* 4 MiB page -> PG_FRAME_A */
#define PSTAB     0x40400000u   /* PS=1 PDE used as a page-table pointer with PSE = 0 */
#define WIN       0x50000000u   /* 4 KiB windows into PG_FRAME_A */
#define DEMAND    0x20000000u   /* PDE present, PTEs filled by the #PF handler */
#define DEMAND2   0x24000000u   /* PDE and PTE filled by the #PF handler */
#define T         0x30000000u   /* pages of the fault, INVLPG and CR3 tests */
#define T_ROPDE   0x31000000u   /* PDE without R/W */
#define T_NOPDE   0x3f800000u   /* PDE not present */
#define T_NPRSVD  0x3f400000u   /* PDE not present with reserved bits set */
#define T_LATEPDE 0x3f000000u   /* PDE made present after a fault */
#define AD        0x34000000u   /* own page table: PDE accessed bit observable */
#define AD4M      0x38000000u   /* 4 MiB page -> PG_FRAME_B */
#define INV4M     0x38400000u   /* 4 MiB page switched between PG_FRAME_A and _B */
#define RSVD      0x3c000000u   /* 4 MiB PDEs with reserved bits */

#define CPUID1_PSE   (1u << 3)
#define CPUID1_PGE   (1u << 13)
#define CPUID1_PSE36 (1u << 17)

static pte_t *kpd;
static uint32_t kvar = 0x5a5a1234;

/* A pool page whose dword i holds tag + i. */
static uint32_t *tagged_page(uint32_t tag)
{
	uint32_t *p = pg_alloc();
	for (int i = 0; i < 1024; i++)
		p[i] = tag + i;
	return p;
}

static uint32_t pte_of(uint32_t lin) { return *pg_pte(kpd, lin); }

/* ---- on, identity, higher half ---- */

static void test_enable(void)
{
	uint32_t r[4];
	cpuid(1, r);
	check_eq("cpuid-pse", r[3] & CPUID1_PSE, CPUID1_PSE);
	check_eq("cpuid-pge", r[3] & CPUID1_PGE, CPUID1_PGE);

	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W);
	write_cr4(read_cr4() & ~(CR4_PSE | CR4_PGE));
	pg_on(kpd);
	check_eq("cr0-pg-set", read_cr0() & CR0_PG, CR0_PG);
	check_eq("cr3-readback", read_cr3(), (uint32_t)kpd);
	check_eq("identity-read-kernel-data", pg_rd((uint32_t)&kvar), 0x5a5a1234);
	pg_wr((uint32_t)&kvar, 0x4321a5a5);
	check_eq("identity-write-kernel-data", *(volatile uint32_t *)&kvar, 0x4321a5a5);
	/* No translation existed before CR0.PG was set: the ones used since set A (4.8). */
	check_eq("identity-data-pte-accessed", pte_of((uint32_t)&kvar) & (PG_A | PG_D), PG_A | PG_D);
	check_eq("identity-code-pte-accessed", pte_of((uint32_t)test_enable) & PG_A, PG_A);
}

static void test_high_alias(void)
{
	uint32_t *hb = tagged_page(0x600d0000);
	pg_map(kpd, HIGH, (uint32_t)hb, PG_P | PG_W);
	check_eq("high-alias-read", pg_rd(HIGH + 0x10), 0x600d0004);
	pg_wr(HIGH + 0xffc, 0x12345678);
	check_eq("high-alias-write", hb[1023], 0x12345678);
	hb[7] = 0xcafe0007;
	check_eq("high-alias-sees-direct-write", pg_rd(HIGH + 0x1c), 0xcafe0007);
}

/* ---- 4 MiB pages (4.3, Table 4-4) ---- */

static void test_pse(void)
{
	volatile uint32_t *fa = (volatile uint32_t *)PG_FRAME_A;

	write_cr4(read_cr4() | CR4_PSE);
	pg_flush();         /* a CR4.PSE change alone need not invalidate (4.10.4.1) */
	pg_map_4m(kpd, LARGE, PG_FRAME_A, PG_P | PG_W);
	pg_wr(LARGE + 0x123454, 0xa5a50001);
	check_eq("pse-4m-write-at-frame-offset", fa[0x123454 / 4], 0xa5a50001);
	fa[0x3ffffc / 4] = 0xa5a50002;
	check_eq("pse-4m-read-last-dword", pg_rd(LARGE + 0x3ffffc), 0xa5a50002);
	fa[0] = 0xa5a50003;
	check_eq("pse-4m-read-first-dword", pg_rd(LARGE), 0xa5a50003);
	/* The same frame through a 4 KiB page: PA = PDE[31:22] | linear[21:0]. */
	pg_map(kpd, WIN, PG_FRAME_A + 0x123000, PG_P | PG_W);
	check_eq("pse-4m-agrees-with-4k-window", pg_rd(WIN + 0x454), 0xa5a50001);

	/* With CR4.PSE = 0 a PDE's bit 7 is ignored: it points to a page table (4.3). */
	pte_t *tab = pg_alloc();
	uint32_t *target = tagged_page(0x7ab10000);
	tab[5] = (uint32_t)target | PG_P | PG_W;
	*pg_pde(kpd, PSTAB) = (uint32_t)tab | PG_PS | PG_P | PG_W;
	write_cr4(read_cr4() & ~CR4_PSE);
	pg_flush();
	check_eq("pse-off-ps-pde-is-table", pg_rd(PSTAB + 5 * PAGE + 8), 0x7ab10002);
	pg_wr(PSTAB + 5 * PAGE + 12, 0x7ab1ffff);
	check_eq("pse-off-ps-pde-is-table-write", target[3], 0x7ab1ffff);
	*pg_pde(kpd, PSTAB) = 0;
	write_cr4(read_cr4() | CR4_PSE);
	pg_flush();
	check_eq("pse-on-again", pg_rd(LARGE + 0x3ffffc), 0xa5a50002);
}

/* ---- demand paging ---- */

#define DEMAND_PAGES 8
static struct { uint32_t cr2, err, eip; } dlog[16];
static int dcount;

/* Map a fresh pool page at a not-present address of the demand regions. */
static int demand_fixup(uint32_t cr2, uint32_t err, struct frame *f)
{
	if (!((cr2 >= DEMAND && cr2 < DEMAND + PG_4M) || (cr2 >= DEMAND2 && cr2 < DEMAND2 + PG_4M)))
		return 0;
	if (err & PF_P)
		return 0;
	if (dcount < 16) {
		dlog[dcount].cr2 = cr2;
		dlog[dcount].err = err;
		dlog[dcount].eip = f->eip;
	}
	dcount++;
	pte_t *pde = pg_pde(kpd, cr2);
	if (!(*pde & PG_P)) {
		*pde = (uint32_t)pg_alloc() | PG_P | PG_W;
		return 1;
	}
	pte_t *pte = (pte_t *)(*pde & PG_FRAME) + ((cr2 >> 12) & 0x3ff);
	if (*pte & PG_P)
		return 0;
	*pte = (uint32_t)pg_alloc() | PG_P | PG_W;
	return 1;
}

/* rep movsl with EDI, ESI, ECX from and back to r[0..2]. */
static void rep_movsl(uint32_t *r)
{
	__asm__ volatile("rep movsl" : "+D"(r[0]), "+S"(r[1]), "+c"(r[2]) :: "memory");
}

static void test_demand(void)
{
	uint32_t got[DEMAND_PAGES];

	pg_pte(kpd, DEMAND);            /* the table exists, every PTE 0 */
	pf_fixup = demand_fixup;
	dcount = 0;
	int ran = RUNS(
		for (int i = 0; i < DEMAND_PAGES; i++) {
			uint32_t a = DEMAND + i * PAGE + 8 * i;
			got[i] = i & 1 ? pg_rd(a) : 0;
			pg_wr(a, 0x1000 + i);
		});
	check(ran, "demand-runs-to-the-end");
	check_eq("demand-fault-count", dcount, DEMAND_PAGES);
	int cr2_ok = 1, err_ok = 1, eip_ok = 1, zero_ok = 1, data_ok = 1;
	for (int i = 0; i < DEMAND_PAGES && i < dcount; i++) {
		uint32_t a = DEMAND + i * PAGE + 8 * i;
		cr2_ok &= dlog[i].cr2 == a;
		err_ok &= dlog[i].err == (i & 1 ? 0 : PF_W);
		eip_ok &= dlog[i].eip == (uint32_t)(i & 1 ? pg_rd_insn : pg_wr_insn);
		zero_ok &= !(i & 1) || got[i] == 0;
		data_ok &= pg_rd(a) == 0x1000u + i;
		data_ok &= *(volatile uint32_t *)((pte_of(a) & PG_FRAME) + 8 * i) == 0x1000u + i;
	}
	check(cr2_ok, "demand-cr2");
	check(err_ok, "demand-error-codes");
	check(eip_ok, "demand-fault-eip");
	check(zero_ok, "demand-fresh-page-reads-zero");
	check(data_ok, "demand-data");
	for (int i = 0; i < DEMAND_PAGES; i++)
		pg_rd(DEMAND + i * PAGE);
	check_eq("demand-no-refault", dcount, DEMAND_PAGES);
	/* A read that faulted and is retried after the handler maps the page sets A
	 * and not D (SDM Vol. 3, 4.8); a later write sets D. */
	dcount = 0;
	uint32_t ro = DEMAND + 0x20000 + 0x24;
	check_eq("demand-read-retried", pg_rd(ro), 0);
	check(dcount == 1 && (pte_of(ro) & (PG_A | PG_D)) == PG_A, "demand-read-sets-a-not-d");
	pg_wr(ro, 5);
	check(dcount == 1 && (pte_of(ro) & (PG_A | PG_D)) == (PG_A | PG_D), "demand-then-write-sets-d");

	/* PDE not present: one fault for it, then one for the PTE (4.10.4.1: a #PF
	 * invalidates what would translate the address). */
	dcount = 0;
	check(RUNS(pg_wr(DEMAND2 + 0x3456, 0xd2d2d2d2)), "demand-pde-runs-to-the-end");
	check_eq("demand-pde-then-pte-two-faults", dcount, 2);
	check(dcount == 2 && dlog[0].cr2 == DEMAND2 + 0x3456 && dlog[1].cr2 == DEMAND2 + 0x3456 &&
	      dlog[0].err == PF_W && dlog[1].err == PF_W, "demand-pde-then-pte-cr2-error");
	check_eq("demand-pde-data", pg_rd(DEMAND2 + 0x3456), 0xd2d2d2d2);

	/* REP MOVSD into four unmapped pages: a fault at each page, the copy resumes
	 * with ECX/ESI/EDI where it stopped. */
	uint32_t dst = DEMAND + 0x10000, src = 0x100000;
	static uint32_t regs[3];
	regs[0] = dst;
	regs[1] = src;
	regs[2] = 4 * PAGE / 4;
	dcount = 0;
	check(RUNS(rep_movsl(regs)), "demand-rep-movs-runs-to-the-end");
	check_eq("demand-rep-movs-faults", dcount, 4);
	int ok = dcount == 4;
	for (int k = 0; k < 4 && ok; k++)
		ok = dlog[k].cr2 == dst + k * PAGE && dlog[k].err == PF_W;
	check(ok, "demand-rep-movs-cr2");
	check(regs[2] == 0 && regs[0] == dst + 4 * PAGE && regs[1] == src + 4 * PAGE,
	      "demand-rep-movs-registers");
	check(memcmp((void *)dst, (void *)src, 4 * PAGE) == 0, "demand-rep-movs-data");
	pf_fixup = 0;
}

/* ---- not present, read-only, reserved bits (4.6, 4.7) ---- */

/* A #PF whose CR2 may be any byte of the access in the second page: the SDM does
 * not say which one a page-crossing access reports. */
static void pf_expect_in(const char *name, int vec, uint32_t err, uint32_t lo, uint32_t hi)
{
	if (vec != VEC_PF)
		fail(name, "exception %d want 14", vec);
	else if (pf.err != err)
		fail(name, "error code %x want %x", pf.err, err);
	else if (pf.cr2 < lo || pf.cr2 > hi)
		fail(name, "cr2 %08x want %08x..%08x", pf.cr2, lo, hi);
	else
		pass(name);
}

static void test_faults(void)
{
	pg_pte(kpd, T);
	PF_EXPECT("pf-not-present-read", 0, T + 0x123, pg_rd_insn, pg_rd(T + 0x123));
	PF_EXPECT("pf-not-present-write", PF_W, T + 0x456, pg_wr_insn, pg_wr(T + 0x456, 1));
	PF_EXPECT("pf-not-present-pde-read", 0, T_NOPDE + 0x789, pg_rd_insn, pg_rd(T_NOPDE + 0x789));
	PF_EXPECT("pf-not-present-pde-write", PF_W, T_NOPDE + 0xabc, pg_wr_insn,
		  pg_wr(T_NOPDE + 0xabc, 1));
	/* P = 0: the other bits are ignored, reserved ones included (4.7). */
	*pg_pte(kpd, T) = 0xfffffffeu;
	PF_EXPECT("pf-not-present-pte-other-bits", 0, T + 0x10, pg_rd_insn, pg_rd(T + 0x10));
	*pg_pte(kpd, T) = 0;
	*pg_pde(kpd, T_NPRSVD) = PG_FRAME_B | PG_4M_BIT21 | PG_4M_BIT13 | PG_PS | PG_W;
	PF_EXPECT("pf-not-present-ignores-reserved", 0, T_NPRSVD + 0x20, pg_rd_insn,
		  pg_rd(T_NPRSVD + 0x20));
	*pg_pde(kpd, T_NPRSVD) = 0;

	/* An access crossing into a not-present page. */
	uint32_t *p1 = tagged_page(0x5b100000);
	pg_map(kpd, T + 0x1000, (uint32_t)p1, PG_P | PG_W);
	pf_reset();
	int v = EXC(pg_wr(T + 0x1ffe, 0x11223344));
	pf_expect_in("pf-split-write-second-page", v, PF_W, T + 0x2000, T + 0x2001);
	pf_reset();
	v = EXC(pg_rd(T + 0x1ffd));
	pf_expect_in("pf-split-read-second-page", v, 0, T + 0x2000, T + 0x2000);

	/* Read-only supervisor page: writes allowed with CR0.WP = 0, #PF(3) with WP = 1. */
	uint32_t *ro = tagged_page(0x50500000);
	pg_map(kpd, T + 0x3000, (uint32_t)ro, PG_P);
	pg_set_wp(0);
	check_eq("cr0-wp-clear", read_cr0() & CR0_WP, 0);
	NO_EXC("ro-read-allowed", check_eq("ro-read-value", pg_rd(T + 0x3004), 0x50500001));
	NO_EXC("ro-write-wp0-allowed", pg_wr(T + 0x3008, 0x0b0b0b0b));
	check_eq("ro-write-wp0-lands", ro[2], 0x0b0b0b0b);
	pg_set_wp(1);
	check_eq("cr0-wp-set", read_cr0() & CR0_WP, CR0_WP);
	NO_EXC("ro-read-wp1-allowed", pg_rd(T + 0x3004));
	PF_EXPECT("ro-write-wp1-faults", PF_P | PF_W, T + 0x3010, pg_wr_insn, pg_wr(T + 0x3010, 0x22));
	check_eq("ro-write-wp1-leaves-memory", ro[4], 0x50500004);
	PF_EXPECT("ro-rmw-wp1-faults", PF_P | PF_W, T + 0x3020, pg_inc_insn, pg_inc(T + 0x3020));
	check_eq("ro-rmw-wp1-leaves-memory", ro[8], 0x50500008);

	/* R/W = 0 in the PDE only: the rights are the AND of both levels (4.6.1). */
	uint32_t *rw = tagged_page(0x5d5d0000);
	pg_map(kpd, T_ROPDE, (uint32_t)rw, PG_P | PG_W);
	*pg_pde(kpd, T_ROPDE) &= ~PG_W;
	pg_flush();
	PF_EXPECT("ro-pde-write-wp1-faults", PF_P | PF_W, T_ROPDE + 0x40, pg_wr_insn,
		  pg_wr(T_ROPDE + 0x40, 1));
	check_eq("ro-pde-write-wp1-leaves-memory", rw[16], 0x5d5d0010);
	pg_set_wp(0);
	NO_EXC("ro-pde-write-wp0-allowed", pg_wr(T_ROPDE + 0x40, 0x5d5d5d5d));
	check_eq("ro-pde-write-wp0-lands", rw[16], 0x5d5d5d5d);

	/* Reserved bits of a 4 MiB PDE (Table 4-4): bit 21 always (M <= 40); without
	 * PSE-36, bits 21:13 (no physical-address bits above 31). RSVD comes with P. */
	*pg_pde(kpd, RSVD) = PG_FRAME_B | PG_4M_BIT21 | PG_PS | PG_P | PG_W;
	pg_flush();
	PF_EXPECT_MASK("pf-rsvd-4m-bit21-read", PF_RSVD, ~PF_P, RSVD + 0x1234, pg_rd_insn,
		       pg_rd(RSVD + 0x1234));
	PF_EXPECT_MASK("pf-rsvd-4m-bit21-write", PF_RSVD | PF_W, ~PF_P, RSVD + 0x5678, pg_wr_insn,
		       pg_wr(RSVD + 0x5678, 1));
	/* "Bit 3 of the error code can be set only if bit 0 is also set" (4.7); QEMU
	 * (mmu_translate, do_fault_rsvd) reports RSVD without P. */
	PF_EXPECT_SDM("pf-rsvd-4m-bit21-read-error-code", "qemu-reports-rsvd-without-p",
		      PF_P | PF_RSVD, RSVD + 0x1234, pg_rd_insn, pg_rd(RSVD + 0x1234));
	PF_EXPECT_SDM("pf-rsvd-4m-bit21-write-error-code", "qemu-reports-rsvd-without-p",
		      PF_P | PF_RSVD | PF_W, RSVD + 0x5678, pg_wr_insn, pg_wr(RSVD + 0x5678, 1));
	/* Without PSE-36 (CPUID.1:EDX[17]) bits 21:13 are reserved; QEMU always takes
	 * bits 20:13 as physical-address bits 39:32. */
	uint32_t r[4];
	cpuid(1, r);
	if (!(r[3] & CPUID1_PSE36)) {
		*pg_pde(kpd, RSVD) = PG_FRAME_B | PG_4M_BIT13 | PG_PS | PG_P | PG_W;
		invlpg(RSVD);
		PF_EXPECT_SDM("pf-rsvd-4m-bit13-no-pse36", "qemu-takes-bit13-as-address-bit-32",
			      PF_P | PF_RSVD, RSVD + 0x9ab0, pg_rd_insn, pg_rd(RSVD + 0x9ab0));
	} else {
		printf("SKIP pf-rsvd-4m-bit13-no-pse36 PSE-36 makes bit 13 an address bit\n");
	}
	*pg_pde(kpd, RSVD) = 0;
	pg_flush();
}

/* ---- accessed and dirty bits (4.8) ---- */

static void test_ad(void)
{
	pte_t *pde = pg_pde(kpd, AD);
	pte_t *pte = pg_pte(kpd, AD);
	pte_t *pte2 = pg_pte(kpd, AD + PAGE);
	*pde = (*pde & PG_FRAME) | PG_P | PG_W;
	*pte = (uint32_t)tagged_page(0xad000000) | PG_P | PG_W;
	*pte2 = (uint32_t)tagged_page(0xad100000) | PG_P | PG_W;
	pg_flush();
	check_eq("ad-fresh-entries-clear", (*pde | *pte) & (PG_A | PG_D), 0);

	check_eq("ad-read-value", pg_rd(AD + 4), 0xad000001);
	check_eq("ad-read-sets-pde-a", *pde & PG_A, PG_A);
	check_eq("ad-read-sets-pte-a", *pte & PG_A, PG_A);
	check_eq("ad-read-leaves-pte-d-clear", *pte & PG_D, 0);
	pg_rd(AD + 8);
	check_eq("ad-second-read-leaves-pte-d-clear", *pte & PG_D, 0);
	pg_wr(AD + 8, 1);
	check_eq("ad-write-after-read-sets-pte-d", *pte & PG_D, PG_D);
	/* Bit 6 of a PDE that references a page table is ignored (Table 4-5). */
	check_eq("ad-write-leaves-pde-bit6", *pde & PG_D, 0);

	*pte &= ~(PG_A | PG_D);
	invlpg(AD);
	pg_rd(AD);
	check_eq("ad-cleared-read-sets-a-only", *pte & (PG_A | PG_D), PG_A);
	pg_wr(AD, 2);
	check_eq("ad-cleared-write-sets-d-again", *pte & PG_D, PG_D);

	pg_wr(AD + PAGE, 3);
	check_eq("ad-write-first-sets-a-and-d", *pte2 & (PG_A | PG_D), PG_A | PG_D);

	/* A 4 MiB page: the PDE is the final entry and takes D. */
	pte_t *big = pg_pde(kpd, AD4M);
	*big = PG_FRAME_B | PG_PS | PG_P | PG_W;
	pg_flush();
	pg_rd(AD4M + 0x2ff000);
	check_eq("ad-4m-read-sets-a-only", *big & (PG_A | PG_D), PG_A);
	pg_wr(AD4M + 0x10, 4);
	check_eq("ad-4m-write-sets-d", *big & (PG_A | PG_D), PG_A | PG_D);
}

/* ---- INVLPG, CR3 loads, global pages (4.10.4) ---- */

static void test_invlpg(void)
{
	uint32_t l = T + 0x10000;
	uint32_t *x = tagged_page(0x11110000), *y = tagged_page(0x22220000);
	pte_t *pte = pg_pte(kpd, l);
	*pte = (uint32_t)x | PG_P | PG_W;
	check_eq("invlpg-initial-mapping", pg_rd(l + 4), 0x11110001);
	*pte = (uint32_t)y | PG_P | PG_W;
	invlpg(l);
	check_eq("invlpg-new-mapping", pg_rd(l + 4), 0x22220001);
	pg_wr(l + 8, 0x2222ffff);
	check(y[2] == 0x2222ffff && x[2] == 0x11110002, "invlpg-new-mapping-write");
	*pte = (uint32_t)x | PG_P | PG_W;
	invlpg(l + 0xfff);          /* any address in the page */
	check_eq("invlpg-back", pg_rd(l + 4), 0x11110001);

	/* Written (dirty) then made read-only: with WP = 1 the next write faults. */
	pg_wr(l + 12, 0x1111eeee);
	*pte = (uint32_t)x | PG_P | PG_D | PG_A;
	invlpg(l);
	pg_set_wp(1);
	PF_EXPECT("invlpg-now-read-only", PF_P | PF_W, l + 12, pg_wr_insn, pg_wr(l + 12, 0));
	check_eq("invlpg-now-read-only-keeps-data", x[3], 0x1111eeee);
	pg_set_wp(0);

	*pte = 0;
	invlpg(l);
	PF_EXPECT("invlpg-unmapped-faults", 0, l + 4, pg_rd_insn, pg_rd(l + 4));

	/* A 4 MiB page: INVLPG of any address in it drops the whole page (4.10.2.3). */
	volatile uint32_t *fa = (volatile uint32_t *)PG_FRAME_A, *fb = (volatile uint32_t *)PG_FRAME_B;
	fa[0x200000 / 4] = 0xaaaa0200;
	fb[0x200000 / 4] = 0xbbbb0200;
	*pg_pde(kpd, INV4M) = PG_FRAME_A | PG_PS | PG_P | PG_W;
	pg_flush();
	check_eq("invlpg-4m-initial", pg_rd(INV4M + 0x200000), 0xaaaa0200);
	*pg_pde(kpd, INV4M) = PG_FRAME_B | PG_PS | PG_P | PG_W;
	invlpg(INV4M + 0x1000);
	check_eq("invlpg-4m-any-address-in-page", pg_rd(INV4M + 0x200000), 0xbbbb0200);
}

static void test_cr3(void)
{
	uint32_t l = T + 0x20000, lg = T + 0x21000, lg2 = T + 0x22000, lp = 0x32000000u;
	uint32_t *x = tagged_page(0x33330000), *y = tagged_page(0x44440000);
	pte_t *pte = pg_pte(kpd, l);

	*pte = (uint32_t)x | PG_P | PG_W;
	check_eq("cr3-initial-mapping", pg_rd(l), 0x33330000);
	*pte = (uint32_t)y | PG_P | PG_W;
	pg_flush();
	check_eq("cr3-reload-new-mapping", pg_rd(l), 0x44440000);
	*pte = 0;
	pg_flush();
	PF_EXPECT("cr3-reload-unmapped-faults", 0, l + 0x44, pg_rd_insn, pg_rd(l + 0x44));

	/* G in a PTE does nothing while CR4.PGE = 0. */
	pte_t *g2 = pg_pte(kpd, lg2);
	*g2 = (uint32_t)x | PG_G | PG_P | PG_W;
	check_eq("g-without-pge-initial", pg_rd(lg2), 0x33330000);
	*g2 = (uint32_t)y | PG_G | PG_P | PG_W;
	pg_flush();
	check_eq("g-without-pge-cr3-reload-new-mapping", pg_rd(lg2), 0x44440000);

	/* Bit 8 of a PDE that references a page table is ignored (Table 4-5). */
	write_cr4(read_cr4() | CR4_PGE);
	pte_t *pp = pg_pte(kpd, lp);
	*pg_pde(kpd, lp) |= PG_G;
	*pp = (uint32_t)x | PG_P | PG_W;
	pg_flush();
	check_eq("pde-g-initial", pg_rd(lp + 8), 0x33330002);
	*pp = (uint32_t)y | PG_P | PG_W;
	pg_flush();
	check_eq("pde-g-ignored-cr3-reload-new-mapping", pg_rd(lp + 8), 0x44440002);

	/* A global page: after a CR3 load the old translation may survive (allowed), so
	 * only "old or new" is checked; INVLPG and a CR4.PGE change must give the new. */
	check_eq("cr4-pge-set", read_cr4() & CR4_PGE, CR4_PGE);
	pte_t *g = pg_pte(kpd, lg);
	*g = (uint32_t)x | PG_G | PG_P | PG_W;
	check_eq("global-initial", pg_rd(lg + 4), 0x33330001);
	*g = (uint32_t)y | PG_G | PG_P | PG_W;
	pg_flush();
	uint32_t v = pg_rd(lg + 4);
	if (v == 0x33330001 || v == 0x44440001)
		pass("global-cr3-reload-old-or-new");
	else
		fail("global-cr3-reload-old-or-new", "got %08x", v);
	invlpg(lg);
	check_eq("global-invlpg-new-mapping", pg_rd(lg + 4), 0x44440001);
	*g = (uint32_t)x | PG_G | PG_P | PG_W;
	pg_flush();
	write_cr4(read_cr4() & ~CR4_PGE);
	check_eq("global-pge-clear-new-mapping", pg_rd(lg + 4), 0x33330001);
	*g = (uint32_t)y | PG_G | PG_P | PG_W;
	write_cr4(read_cr4() | CR4_PGE);
	check_eq("global-pge-set-new-mapping", pg_rd(lg + 4), 0x44440001);
	*g = 0;
	invlpg(lg);
	PF_EXPECT("global-invlpg-unmapped-faults", 0, lg, pg_rd_insn, pg_rd(lg));

	/* A global 4 MiB page. */
	volatile uint32_t *fa = (volatile uint32_t *)PG_FRAME_A, *fb = (volatile uint32_t *)PG_FRAME_B;
	fa[0x10] = 0xaaaa0040;
	fb[0x10] = 0xbbbb0040;
	*pg_pde(kpd, INV4M) = PG_FRAME_A | PG_G | PG_PS | PG_P | PG_W;
	invlpg(INV4M);
	check_eq("global-4m-initial", pg_rd(INV4M + 0x40), 0xaaaa0040);
	*pg_pde(kpd, INV4M) = PG_FRAME_B | PG_G | PG_PS | PG_P | PG_W;
	invlpg(INV4M + 0x3ff000);
	check_eq("global-4m-invlpg-new-mapping", pg_rd(INV4M + 0x40), 0xbbbb0040);
	*pg_pde(kpd, INV4M) = 0;
	invlpg(INV4M);
}

/* ---- P from 0 to 1: no invalidation needed (4.10.4.3) ---- */

static void test_present_late(void)
{
	uint32_t l = T + 0x30000;
	uint32_t *x = tagged_page(0x77770000);
	pte_t *pte = pg_pte(kpd, l);
	*pte = 0;
	invlpg(l);
	PF_EXPECT("late-present-first-faults", 0, l + 0x30, pg_rd_insn, pg_rd(l + 0x30));
	*pte = (uint32_t)x | PG_P | PG_W;
	NO_EXC("late-present-no-invlpg-no-fault",
	       check_eq("late-present-no-invlpg-value", pg_rd(l + 0x30), 0x7777000c));

	PF_EXPECT("late-pde-first-faults", PF_W, T_LATEPDE + 0x44, pg_wr_insn, pg_wr(T_LATEPDE + 0x44, 9));
	pte_t *tab = pg_alloc();
	tab[0] = (uint32_t)x | PG_P | PG_W;
	*pg_pde(kpd, T_LATEPDE) = (uint32_t)tab | PG_P | PG_W;
	NO_EXC("late-pde-no-invlpg-no-fault", pg_wr(T_LATEPDE + 0x44, 0x77777777));
	check_eq("late-pde-no-invlpg-lands", x[0x11], 0x77777777);
}

/* ---- aliases ---- */

static void test_alias(void)
{
	uint32_t a = T + 0x40000, b = T + 0x41000;
	uint32_t *z = tagged_page(0x99990000);
	pte_t *pa = pg_pte(kpd, a), *pb = pg_pte(kpd, b);
	*pa = (uint32_t)z | PG_P | PG_W;
	*pb = (uint32_t)z | PG_P | PG_W;

	pg_wr(a + 0x10, 0xa1a1a1a1);
	check_eq("alias-write-a-read-b", pg_rd(b + 0x10), 0xa1a1a1a1);
	pg_wr(b + 0x14, 0xb2b2b2b2);
	check_eq("alias-write-b-read-a", pg_rd(a + 0x14), 0xb2b2b2b2);
	check_eq("alias-write-a-read-direct", z[4], 0xa1a1a1a1);

	/* D is set in the entry that translated the write, not in the alias (4.8). */
	*pa &= ~(PG_A | PG_D);
	*pb &= ~(PG_A | PG_D);
	invlpg(a);
	invlpg(b);
	pg_wr(a + 0x20, 1);
	check_eq("alias-dirty-only-in-written-pte", (*pa & PG_D) | ((*pb & PG_D) << 1), PG_D);
	check_eq("alias-read-b-sees-write", pg_rd(b + 0x20), 1);
	check_eq("alias-read-b-sets-a-not-d", *pb & (PG_A | PG_D), PG_A);
	pg_wr(b + 0x20, 2);
	check_eq("alias-write-b-sets-its-d", *pb & PG_D, PG_D);
	check_eq("alias-read-a-sees-write-b", pg_rd(a + 0x20), 2);

	int ok = 1;
	for (uint32_t i = 0; i < 200; i++) {
		uint32_t off = (i * 52) & 0xffc;
		pg_wr((i & 1 ? a : b) + off, i * 0x01010101u);
		ok &= pg_rd((i & 1 ? b : a) + off) == i * 0x01010101u;
	}
	check(ok, "alias-interleaved");
}

/* ---- many translations at once ---- */

/* 40 4 MiB pages, all of PG_FRAME_B, one dword written in each of their 40960 4 KiB
 * pieces and read back: more pages than an implementation may keep mapped at once
 * (trapeze: MMU_BUDGET), so whatever it evicts must come back right. */
#define MANY      0x80000000u
#define MANY_4M   40
static void test_many(void)
{
	for (uint32_t j = 0; j < MANY_4M; j++)
		pg_map_4m(kpd, MANY + j * PG_4M, PG_FRAME_B, PG_P | PG_W);
	pg_flush();
	for (uint32_t j = 0; j < MANY_4M; j++)
		for (uint32_t k = 0; k < 1024; k++)
			pg_wr(MANY + j * PG_4M + k * PAGE + j * 4, j << 16 | k);
	int bad = 0;
	uint32_t first = 0;
	for (uint32_t j = 0; j < MANY_4M; j++)
		for (uint32_t k = 0; k < 1024; k++) {
			/* Any of the 40 aliases: the dword of (j, k) is at k * 4096 + j * 4. */
			uint32_t lin = MANY + ((j + k) % MANY_4M) * PG_4M + k * PAGE + j * 4;
			if (pg_rd(lin) != (j << 16 | k) && !bad++)
				first = lin;
		}
	if (bad)
		fail("many-mappings-read-back", "%d wrong, first at %08x", bad, first);
	else
		pass("many-mappings-read-back");
	volatile uint32_t *fb = (volatile uint32_t *)PG_FRAME_B;
	check_eq("many-mappings-frame", fb[(1023 * PAGE + 39 * 4) / 4], 39u << 16 | 1023);
	for (uint32_t j = 0; j < MANY_4M; j++)
		*pg_pde(kpd, MANY + j * PG_4M) = 0;
	pg_flush();
}

/* ---- paging off again ---- */

static void test_off(void)
{
	/* Linear 0xb00000 remapped to a pool page; physical 0xb00000 written through
	 * the 4 MiB page of PG_FRAME_B at AD4M. */
	uint32_t l = 0x00b00000;
	uint32_t *m = tagged_page(0xeeee0000);
	pte_t *pte = pg_pte(kpd, l);
	uint32_t keep = *pte;
	*pte = (uint32_t)m | PG_P | PG_W;
	invlpg(l);
	pg_wr(AD4M + (l - PG_FRAME_B), 0xfeedface);
	check_eq("remapped-identity-page", pg_rd(l), 0xeeee0000);

	/* Global page changed while paging is off: CR0.PG 1 -> 0 invalidates all (4.10.4.1). */
	uint32_t lg = T + 0x50000;
	uint32_t *x = tagged_page(0x12120000), *y = tagged_page(0x34340000);
	write_cr4(read_cr4() | CR4_PGE);
	pte_t *g = pg_pte(kpd, lg);
	*g = (uint32_t)x | PG_G | PG_P | PG_W;
	check_eq("pg-off-global-initial", pg_rd(lg), 0x12120000);
	*g = (uint32_t)y | PG_G | PG_P | PG_W;

	pg_off();
	check_eq("pg-off-cr0", read_cr0() & CR0_PG, 0);
	check_eq("pg-off-linear-is-physical", pg_rd(l), 0xfeedface);
	check_eq("pg-off-kernel-data", pg_rd((uint32_t)&kvar), 0x4321a5a5);
	pg_on(kpd);
	check_eq("pg-on-again-mapping", pg_rd(l), 0xeeee0000);
	check_eq("pg-off-flushes-global", pg_rd(lg), 0x34340000);
	*pte = keep;
	invlpg(l);
	pg_off();
	write_cr4(read_cr4() & ~(CR4_PGE | CR4_PSE));
	check_eq("pg-off-again-runs", pg_rd(l), 0xfeedface);
}

void test_main(void)
{
	guest_init();
	pg_init();
	test_enable();
	test_high_alias();
	test_pse();
	test_demand();
	test_faults();
	test_ad();
	test_invlpg();
	test_cr3();
	test_present_late();
	test_alias();
	test_many();
	test_off();
}
