/*
 * para_paging - paging through hypercalls (docs/para-x86.md sections 4 and 6):
 * set_pt turns paging on over page tables built in guest memory; mmu_update (with
 * lin) adds a mapping that is reachable and removes one, which then faults with a
 * #PF whose frame carries CR2 on top of the error code; plain stores to a PTE take
 * effect at tlb_flush (one page, or all) and at set_pt; 4 MiB pages work.
 */
#include "pguest.h"

#define LIN_A   0x40000000u     /* a table of its own, not mapped at first */
#define LIN_B   0x40001000u
#define LIN_4M  0x80000000u

static uint32_t page_a[1024] __attribute__((aligned(4096)));
static uint32_t page_b[1024] __attribute__((aligned(4096)));
static uint32_t table_a[1024] __attribute__((aligned(4096)));
static volatile uint32_t marker = 0x600dcafe;

/* A #PF at lin: vector 14, CR2, the error code, a frame one word longer than x86's. */
static void expect_pf(const char *name, int got, uint32_t lin, uint32_t err)
{
	if (got != 14)
		fail(name, "vector %d want 14", got);
	else if (trap_last.cr2 != lin)
		fail(name, "cr2 %08x want %08x", trap_last.cr2, lin);
	else if (trap_last.error != err)
		fail(name, "error code %x want %x", trap_last.error, err);
	else if (trap_last.cs != PARA_KERNEL_CS)
		fail(name, "cs %x want 8", trap_last.cs);
	else if (trap_last.frame_end != trap_fix_esp)
		fail(name, "frame ends at %08x, ESP was %08x (wrong frame size)",
		     trap_last.frame_end, trap_fix_esp);
	else
		pass(name);
}

static int update1(uint32_t ptr, uint32_t val, uint32_t lin)
{
	struct para_mmu_req r = { ptr, val, lin };
	uint32_t done = 0xdeadbeef;
	int32_t e = hc_mmu_update(&r, 1, &done);
	if (e == 0 && done != 1)
		return 1000;
	return e;
}

void test_main(void)
{
	uint32_t v;
	for (int i = 0; i < 1024; i++)
		page_a[i] = 0xaaaa0000 + i, page_b[i] = 0xbbbb0000 + i;

	pt_identity();
	check_eq("set-pt-on", hc_set_pt((uint32_t)pt_pd), 0);
	check_eq("identity-kernel", marker, 0x600dcafe);
	marker = 0x12345678;
	check_eq("identity-kernel-write", marker, 0x12345678);
	check_eq("identity-start-info", start->magic, PARA_BOOT_MAGIC);
	check(shared->tsc_mult != 0, "identity-shared-page");
	check_eq("smsw-paging", smsw() & 0xffff, 0x0011);   /* PE, ET: PG lies above them */

	/* Nothing at LIN_A yet: not-present faults, read (0) and write (2). */
	expect_pf("pf-unmapped-read", probe_read(LIN_A, &v), LIN_A, 0);
	expect_pf("pf-unmapped-write", probe_write(LIN_A + 8, 1), LIN_A + 8, 2);
	expect_pf("pf-page-zero", probe_read(0, &v), 0, 0);

	/* mmu_update: the PDE, then the PTE with its lin. */
	memset(table_a, 0, sizeof(table_a));
	struct para_mmu_req reqs[2] = {
		{ (uint32_t)&pt_pd[LIN_A >> 22], (uint32_t)table_a | PTE_P | PTE_W, PARA_NO_LIN },
		{ (uint32_t)&table_a[0], (uint32_t)page_a | PTE_P | PTE_W, LIN_A },
	};
	uint32_t done = 0xdeadbeef;
	check_eq("mmu-update-map", hc_mmu_update(reqs, 2, &done), 0);
	check_eq("mmu-update-done", done, 2);
	/* As written, but for A: the monitor maps the page at once, as an access would
	 * (section 4). */
	check_eq("mmu-update-wrote-pte", table_a[0] & ~0x20u, (uint32_t)page_a | PTE_P | PTE_W);
	int got = probe_read(LIN_A + 4, &v);
	if (got != -1)
		fail("mmu-map-read", "vector %d", got);
	else
		check_eq("mmu-map-read", v, 0xaaaa0001);
	got = probe_write(LIN_A + 8, 0x11112222);
	check(got == -1 && page_a[2] == 0x11112222, "mmu-map-write");

	/* Remove it (the translation was just used): the next access faults. */
	check_eq("mmu-update-unmap", update1((uint32_t)&table_a[0], 0, LIN_A), 0);
	expect_pf("mmu-unmap-faults", probe_read(LIN_A + 4, &v), LIN_A + 4, 0);
	expect_pf("mmu-unmap-faults-write", probe_write(LIN_A, 5), LIN_A, 2);

	/* Plain stores to a PTE take effect at tlb_flush. */
	check_eq("mmu-update-map-b", update1((uint32_t)&table_a[1], (uint32_t)page_a | PTE_P | PTE_W, LIN_B), 0);
	got = probe_read(LIN_B, &v);
	check(got == -1 && v == 0xaaaa0000, "map-b-reads-a");
	table_a[1] = (uint32_t)page_b | PTE_P | PTE_W;
	check_eq("tlb-flush-page-returns-0", hc_tlb_flush(LIN_B, 1), 0);
	got = probe_read(LIN_B, &v);
	check(got == -1 && v == 0xbbbb0000, "tlb-flush-page");
	table_a[1] = (uint32_t)page_a | PTE_P | PTE_W;
	check_eq("tlb-flush-all-returns-0", hc_tlb_flush(0, 0), 0);
	got = probe_read(LIN_B + 12, &v);
	check(got == -1 && v == 0xaaaa0003, "tlb-flush-all");
	table_a[1] = 0;
	hc_tlb_flush(LIN_B, 1);
	expect_pf("tlb-flush-unmap-faults", probe_read(LIN_B, &v), LIN_B, 0);
	/* Two pages in one call. */
	table_a[0] = (uint32_t)page_b | PTE_P | PTE_W;
	table_a[1] = (uint32_t)page_b | PTE_P | PTE_W;
	hc_tlb_flush(LIN_A, 2);
	uint32_t v2 = 0;
	check(probe_read(LIN_A + 4, &v) == -1 && probe_read(LIN_B + 4, &v2) == -1 &&
	      v == 0xbbbb0001 && v2 == 0xbbbb0001, "tlb-flush-two-pages");
	/* set_pt flushes too. */
	table_a[1] = (uint32_t)page_a | PTE_P | PTE_W;
	check_eq("set-pt-again", hc_set_pt((uint32_t)pt_pd), 0);
	got = probe_read(LIN_B + 16, &v);
	check(got == -1 && v == 0xaaaa0004, "set-pt-flushes");

	/* A 4 MiB page (section 4: allowed) mapping physical 0-4 MiB at LIN_4M. */
	check_eq("mmu-update-4m", update1((uint32_t)&pt_pd[LIN_4M >> 22], PTE_P | PTE_W | PTE_PS, PARA_NO_LIN), 0);
	got = probe_read(LIN_4M + (uint32_t)&marker, &v);
	check(got == -1 && v == 0x12345678, "pse-4m-page");

	/* The start-info page, mapped like any page of RAM. */
	check_eq("mmu-start-info-readonly", update1((uint32_t)&table_a[2], start->start_info | PTE_P,
						    LIN_A + 0x2000), 0);
	got = probe_read(LIN_A + 0x2000, &v);
	check(got == -1 && v == PARA_BOOT_MAGIC, "start-info-readable-mapped");

	/* A #PF taken while the handler's own stack is identity-mapped: still running. */
	check_eq("console-after-paging", hc_console_write("ok\n", 3), 3);
}
