/*
 * test_mmu.c - the shadow MMU's book-keeping: pages mapped on demand, the budget
 * below vm.max_map_count (everything dropped when it runs out, never a failure),
 * CR3 loads that keep global pages, INVLPG (of a whole 4 MiB or, under PAE, 2 MiB
 * page), and under PAE: CR3 loads that check the PDPTEs, physical addresses above
 * 4 GiB, fetches from execute-disabled pages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/testvm.h"
#include "../../shadowmmu/mmu.h"
#include "../../shadowmmu/walk.h"
#include "../../monitor/vm.h"

#define PD      0x10000u        /* page directory; page tables follow */
#define PT0     0x11000u
#define FRAMES  0x200000u       /* the frames the mappings point at (2 MiB of them) */
#define NTABLES 70              /* 280 MiB of linear space: past the budget, even for
				   pages mapped every other one */

static struct vm vm;

/* Map linear [0, NTABLES * 4 MiB) to FRAMES + (linear mod 2 MiB), 4 KiB pages. */
static void build_tables(bool global)
{
	for (uint32_t t = 0; t < NTABLES; t++) {
		tvm_wr32(&vm, PD + 4 * t, (PT0 + t * 0x1000) | 7);
		for (uint32_t i = 0; i < 1024; i++)
			tvm_wr32(&vm, PT0 + t * 0x1000 + 4 * i,
				 (FRAMES + (i & 0x1ff) * 0x1000) | 7 | (global ? 0x100 : 0));
	}
}

static void setup(void)
{
	tvm_create(&vm);
	vm.cpu.cr3 = PD;
	vm.cpu.cr0 |= CR0_PG;
	mmu_paging_changed(vm.mmu);
}

static void teardown(void) { vm_destroy(&vm); }

static bool mapped(uint32_t lin) { return mmu_mapped(vm.mmu, lin); }

START_TEST(fault_maps_page)
{
	build_tables(false);
	ck_assert(!mapped(0x205000));
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x205000, false), 1);
	ck_assert(mapped(0x205000));
	ck_assert_uint_eq(*(volatile uint8_t *)(uintptr_t)0x205000, 0);
	tvm_wr32(&vm, FRAMES + 0x5000, 0xabcd1234);
	ck_assert_uint_eq(*(volatile uint32_t *)(uintptr_t)0x205000, 0xabcd1234);
	/* a not-present page: #PF, nothing mapped */
	tvm_wr32(&vm, PT0 + 4 * 0x206, 0);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x206000, true), 0);
	ck_assert(vm.cpu.exc.pending);
	ck_assert_uint_eq(vm.cpu.exc.vector, VEC_PF);
	ck_assert_uint_eq(vm.cpu.sh->cr2, 0x206000);
	ck_assert(!mapped(0x206000));
	/* the lowest 64 KiB: the host cannot map it, the access is emulated */
	vm.cpu.exc.pending = false;
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x5000, false), 2);
	ck_assert(!mapped(0x5000));
	ck_assert(!vm.cpu.exc.pending);
}
END_TEST

START_TEST(budget_drops_everything_when_full)
{
	build_tables(false);
	/* A mapping counts 2 VMAs (mmu.h): the budget holds MMU_BUDGET / 2 of them. */
	uint32_t n = MMU_BUDGET / 2 + 100, p0 = GUEST_LOW >> 12;
	ck_assert_uint_le(p0 + n, NTABLES * 1024u);
	for (uint32_t p = p0; p < p0 + n; p++) {
		ck_assert_int_eq(mmu_fault(vm.mmu, p << 12, false), 1);
		ck_assert_uint_le(mmu_mapped_count(vm.mmu), MMU_BUDGET / 2);
	}
	/* The budget ran out once: the first pages are gone, the last ones there. */
	ck_assert_uint_eq(mmu_mapped_count(vm.mmu), 100);
	ck_assert(!mapped(p0 << 12));
	ck_assert(mapped((p0 + n - 1) << 12));
	ck_assert_uint_ge(mmu_stats(vm.mmu)->tlb_flushes, 2);
}
END_TEST

/* Every other page mapped: each mapping sits between PROT_NONE pages and is a VMA of
 * its own, plus the PROT_NONE one after it. More of them than vm.max_map_count / 2
 * (65530 by default) must still never fail: before 2026-12-07 the budget counted a
 * mapping once and the 32,732nd such fault stopped the VM (ENOMEM). */
START_TEST(budget_holds_for_scattered_pages)
{
	build_tables(false);
	uint32_t n = 34000, p0 = GUEST_LOW >> 12;
	ck_assert_uint_le(p0 + 2 * n, NTABLES * 1024u);
	for (uint32_t k = 0; k < n; k++)
		ck_assert_int_eq(mmu_fault(vm.mmu, (p0 + 2 * k) << 12, false), 1);
	ck_assert(mapped((p0 + 2 * (n - 1)) << 12));
	ck_assert_uint_ge(mmu_stats(vm.mmu)->tlb_flushes, 2);  /* the budget ran out */
}
END_TEST

/* Runs of 8 writable pages, all mapping the same 8 frames, each run amid PROT_NONE:
 * ~51,000 VMAs. Then one of the frames holds translated code: every alias of it must
 * become read-only on the host (or go), though that splits thousands of runs, past
 * vm.max_map_count without the budget. Before 2026-12-07 the splits were not counted
 * and a failed mprotect went unnoticed: aliases stayed writable under code translated
 * from the frame. */
#define RUNS      25568
#define RUN_PD    0x80000u      /* a directory and tables of their own, below FRAMES */

START_TEST(code_protection_past_the_budget)
{
	uint32_t lin0 = 1u << 22, npages = RUNS * 9, ntables = (npages + 1023) / 1024;
	ck_assert_uint_le(RUN_PD + (1 + ntables) * 0x1000u, FRAMES);
	for (uint32_t t = 0; t < ntables; t++)
		tvm_wr32(&vm, RUN_PD + 4 * ((lin0 >> 22) + t), (RUN_PD + (1 + t) * 0x1000) | 0x27);
	for (uint32_t k = 0; k < npages; k++) {
		uint32_t in_run = k % 9;        /* 8 pages, then one not present */
		tvm_wr32(&vm, RUN_PD + 0x1000 + 4 * k,
			 in_run < 8 ? (FRAMES + in_run * 0x1000) | 0x67 : 0);
	}
	vm.cpu.cr3 = RUN_PD;
	mmu_flush_tlb(vm.mmu);
	for (uint32_t r = 0; r < RUNS; r++)
		ck_assert_int_eq(mmu_fault(vm.mmu, lin0 + r * 9 * 0x1000, true), 1);
	mmu_protect_code(vm.mmu, (FRAMES >> 12) + 3, true);
	ck_assert_int_eq(vm.stop, STOP_NONE);
	/* What the host says (/proc/self/maps): no alias of the frame writable. */
	FILE *f = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(f);
	static uint64_t lo[70000], hi[70000];
	static bool w[70000];
	uint32_t n = 0;
	char line[512], perms[8];
	while (n < 70000 && fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) == 3) {
			lo[n] = a, hi[n] = b, w[n] = perms[1] == 'w';
			n++;
		}
	}
	fclose(f);
	uint32_t writable = 0;
	for (uint32_t r = 0, i = 0; r < RUNS; r++) {
		uint64_t a = lin0 + (r * 9 + 3) * 0x1000ull;
		while (i < n && hi[i] <= a)
			i++;
		writable += i < n && lo[i] <= a && w[i];
	}
	ck_assert_uint_eq(writable, 0);
}
END_TEST

START_TEST(cr3_load_keeps_global_pages)
{
	build_tables(false);
	tvm_wr32(&vm, PT0 + 4 * 0x201, (FRAMES + 0x1000) | 7 | 0x100);     /* page 1 global */
	vm.cpu.cr4 |= CR4_PGE;
	mmu_paging_changed(vm.mmu);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x201000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x202000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x204000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x205000, false), 1);
	/* Page 2 now maps another frame, page 4's A bit is clear, page 5 is unchanged. */
	tvm_wr32(&vm, PT0 + 4 * 0x202, (FRAMES + 0x3000) | 7 | 0x20);
	tvm_wr32(&vm, PT0 + 4 * 0x204, tvm_rd32(&vm, PT0 + 4 * 0x204) & ~0x20u);
	tvm_wr32(&vm, FRAMES + 0x3000, 0x5eed3000);
	mmu_flush_tlb(vm.mmu);
	ck_assert(mapped(0x201000));
	/* Page 2's new entry has A set: it maps the new frame at once (mmu.c, remappable). */
	ck_assert(mapped(0x202000));
	ck_assert_uint_eq(*(volatile uint32_t *)0x202000, 0x5eed3000);
	ck_assert_uint_eq(mmu_stats(vm.mmu)->remaps, 1);
	ck_assert(!mapped(0x204000));
	ck_assert(mapped(0x205000));           /* the walk after a flush would change nothing */
	/* With PGE a changed global page stays until INVLPG; without PGE a CR3 load
	 * drops it too. */
	tvm_wr32(&vm, PT0 + 4 * 0x201, tvm_rd32(&vm, PT0 + 4 * 0x201) & ~0x20u);
	mmu_flush_tlb(vm.mmu);
	ck_assert(mapped(0x201000));
	vm.cpu.cr4 &= ~CR4_PGE;
	mmu_paging_changed(vm.mmu);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x201000, false), 1);
	tvm_wr32(&vm, PT0 + 4 * 0x201, tvm_rd32(&vm, PT0 + 4 * 0x201) & ~0x20u);
	mmu_flush_tlb(vm.mmu);
	ck_assert(!mapped(0x201000));
}
END_TEST

START_TEST(invlpg_drops_one_page)
{
	build_tables(false);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x203000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x204000, false), 1);
	/* A clear in the entry: the page goes (the access that sets A faults it in). */
	tvm_wr32(&vm, PT0 + 4 * 0x203, tvm_rd32(&vm, PT0 + 4 * 0x203) & ~0x20u);
	mmu_invlpg(vm.mmu, 0x203123);
	ck_assert(!mapped(0x203000));
	ck_assert(mapped(0x204000));
	/* A set, another frame: mapped again at once, to the new frame, read-only while D
	 * is clear. */
	tvm_wr32(&vm, FRAMES + 0x7000, 0x5eed7000);
	tvm_wr32(&vm, PT0 + 4 * 0x204, (FRAMES + 0x7000) | 7 | 0x20);
	mmu_invlpg(vm.mmu, 0x204000);
	ck_assert(mapped(0x204000));
	ck_assert(!mmu_mapped_writable(vm.mmu, 0x204000));
	ck_assert_uint_eq(*(volatile uint32_t *)0x204000, 0x5eed7000);
	/* Not present: gone. */
	tvm_wr32(&vm, PT0 + 4 * 0x204, 0);
	mmu_invlpg(vm.mmu, 0x204000);
	ck_assert(!mapped(0x204000));
}
END_TEST

/* A CR3 load back to a directory maps the pages host faults mapped while it was
 * current, those its tables still map as a fault would, consecutive frames in one
 * host call. */
START_TEST(cr3_load_back_maps_working_set)
{
	const uint32_t pd2 = 0x38000;          /* an empty directory: another process */
	build_tables(false);
	/* Faulted in once: not wanted back (a stream goes through a page once). */
	for (uint32_t lin = 0x201000; lin <= 0x203000; lin += 0x1000)
		ck_assert_int_eq(mmu_fault(vm.mmu, lin, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x208000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x20a000, false), 1);
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, pd2), 0);
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, PD), 0);
	ck_assert(!mapped(0x201000) && !mapped(0x208000) && !mapped(0x20a000));
	ck_assert_uint_eq(mmu_stats(vm.mmu)->ws_maps, 0);
	/* Faulted in again: wanted back at the next return (0x20a000 was not). */
	for (uint32_t lin = 0x201000; lin <= 0x203000; lin += 0x1000)
		ck_assert_int_eq(mmu_fault(vm.mmu, lin, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x208000, false), 1);
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, pd2), 0);
	ck_assert(!mapped(0x201000) && !mapped(0x208000));
	uint64_t calls = mmu_stats(vm.mmu)->host_calls;
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, PD), 0);
	ck_assert(mapped(0x201000) && mapped(0x202000) && mapped(0x203000) && mapped(0x208000));
	ck_assert(!mapped(0x20a000));
	ck_assert_uint_eq(mmu_stats(vm.mmu)->ws_maps, 4);
	ck_assert_uint_eq(mmu_stats(vm.mmu)->host_calls - calls, 2);   /* 0x201-0x203, 0x208 */
	ck_assert(!mmu_mapped_writable(vm.mmu, 0x201000));             /* D clear */
	/* Changed while away: A clear is left to the access; another frame is taken. */
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, pd2), 0);
	tvm_wr32(&vm, PT0 + 4 * 0x202, tvm_rd32(&vm, PT0 + 4 * 0x202) & ~0x20u);
	tvm_wr32(&vm, FRAMES + 0x9000, 0x5eed9000);
	tvm_wr32(&vm, PT0 + 4 * 0x203, (FRAMES + 0x9000) | 7 | 0x20);
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, PD), 0);
	ck_assert(mapped(0x201000) && !mapped(0x202000) && mapped(0x203000));
	ck_assert_uint_eq(*(volatile uint32_t *)0x203000, 0x5eed9000);
}
END_TEST

START_TEST(read_only_until_dirty)
{
	build_tables(false);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x207000, false), 1);
	ck_assert(!mmu_mapped_writable(vm.mmu, 0x207000));
	ck_assert_uint_eq(tvm_rd32(&vm, PT0 + 4 * 0x207) & 0x40, 0);       /* D clear */
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x207000, true), 1);
	ck_assert(mmu_mapped_writable(vm.mmu, 0x207000));
	ck_assert_uint_eq(tvm_rd32(&vm, PT0 + 4 * 0x207) & 0x40, 0x40);    /* D set */
}
END_TEST

/* ---- large pages ---- */

START_TEST(invlpg_drops_whole_4m_page)
{
	vm.cpu.cr4 |= CR4_PSE;
	mmu_paging_changed(vm.mmu);
	tvm_wr32(&vm, PD + 4 * 1, 0x000000 | 0x87);           /* 4 MiB pages at 4 and 8 MiB */
	tvm_wr32(&vm, PD + 4 * 2, 0x000000 | 0x87);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x400000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x7ff000, true), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x800000, false), 1);
	mmu_invlpg(vm.mmu, 0x600123);
	ck_assert(!mapped(0x400000));
	ck_assert(!mapped(0x7ff000));
	ck_assert(mapped(0x800000));
}
END_TEST

/* ---- PAE ---- */

#define PDPT     0x40000u
#define PAE_PD   0x41000u       /* linear 0-1 GiB */
#define PAE_PT   0x42000u       /* linear 0-2 MiB */
#define XD       (1ull << 63)

/* PAE paging on with NXE: linear 0-2 MiB through PAE_PT (empty), the rest empty. */
static void pae_on(void)
{
	tvm_wr64(&vm, PDPT, PAE_PD | 1);
	tvm_wr64(&vm, PAE_PD, PAE_PT | 7);
	vm.cpu.cr4 |= CR4_PAE;
	vm.cpu.efer = EFER_NXE;
	vm.cpu.cr3 = PDPT;
	ck_assert(walk_load_pdptes(&vm.cpu, &vm.mem, PDPT));
	mmu_paging_changed(vm.mmu);
}

START_TEST(pae_invlpg_drops_whole_2m_page)
{
	pae_on();
	tvm_wr64(&vm, PAE_PD + 8 * 2, FRAMES | 0x87);          /* 2 MiB pages at 4 and 6 MiB */
	tvm_wr64(&vm, PAE_PD + 8 * 3, FRAMES | 0x87);
	tvm_wr64(&vm, PAE_PT + 8 * 0x11, (FRAMES + 0x1000) | 7);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x400000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x5ff000, true), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x600000, false), 1);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x11000, false), 1);
	tvm_wr32(&vm, FRAMES + 0x1ff000, 0x2badbeef);
	ck_assert_uint_eq(*(volatile uint32_t *)(uintptr_t)0x5ff000, 0x2badbeef);
	mmu_invlpg(vm.mmu, 0x4ab000);
	ck_assert(!mapped(0x400000));
	ck_assert(!mapped(0x5ff000));
	ck_assert(mapped(0x600000));    /* the next 2 MiB page is another translation */
	ck_assert(mapped(0x11000));
	mmu_invlpg(vm.mmu, 0x7fffff);
	ck_assert(!mapped(0x600000));
	ck_assert(mapped(0x11000));
}
END_TEST

START_TEST(pae_above_4g_is_not_ram)
{
	pae_on();
	tvm_wr64(&vm, PAE_PT + 8 * 0x13, 0x100003000ull | 7);      /* physical 4 GiB + 12 KiB */
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x13000, true), 2);
	ck_assert(!mapped(0x13000));
	ck_assert(!vm.cpu.exc.pending);
	uint64_t pa = 0;
	ck_assert_int_eq(mmu_translate(vm.mmu, 0x13abc, PF_ACC_WRITE, &pa), 0);
	ck_assert_uint_eq(pa, 0x100003abcull);
	/* Not an alias of physical 12 KiB. */
	tvm_wr64(&vm, PAE_PT + 8 * 0x14, 0x3000 | 7);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x14000, false), 1);
	ck_assert_int_eq(mmu_translate(vm.mmu, 0x14abc, 0, &pa), 0);
	ck_assert_uint_eq(pa, 0x3abc);
}
END_TEST

START_TEST(pae_cr3_load_checks_pdptes)
{
	pae_on();
	tvm_wr64(&vm, PAE_PT + 8 * 0x15, (FRAMES + 0x5000) | 7);
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x15000, false), 1);
	/* A present PDPTE with a reserved bit: nothing changes. */
	tvm_wr64(&vm, PDPT + 0x20, PAE_PD | 1 | 2);
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, PDPT + 0x20), -1);
	ck_assert_uint_eq(vm.cpu.cr3, PDPT);
	ck_assert_uint_eq(vm.cpu.pdpte[0], PAE_PD | 1);
	ck_assert(mapped(0x15000));
	/* A good one: loaded, the TLB flushed (the page now maps another frame). */
	tvm_wr64(&vm, PAE_PT + 8 * 0x15, (FRAMES + 0x6000) | 7);
	tvm_wr64(&vm, PDPT + 0x20, PAE_PD | 1);
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, PDPT + 0x20), 0);
	ck_assert_uint_eq(vm.cpu.cr3, PDPT + 0x20);
	ck_assert(!mapped(0x15000));           /* A clear: left to the access */
	/* Paging off: CR3 is only stored, the PDPTEs are read when paging goes on. */
	vm.cpu.cr0 &= ~CR0_PG;
	mmu_paging_changed(vm.mmu);
	ck_assert_int_eq(mmu_load_cr3(vm.mmu, 0xfe0), 0);
	ck_assert_uint_eq(vm.cpu.cr3, 0xfe0);
	ck_assert_uint_eq(vm.cpu.pdpte[0], PAE_PD | 1);
}
END_TEST

START_TEST(pae_fetch_from_xd_page)
{
	pae_on();
	tvm_wr64(&vm, PAE_PT + 8 * 0x16, XD | (FRAMES + 0x6000) | 7);
	uint64_t pa = 0;
	/* Data accesses go (and map the page), a peek at a fetch fails quietly... */
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x16000, true), 1);
	ck_assert_int_eq(mmu_peek(vm.mmu, 0x16010, PF_ACC_FETCH, &pa), -1);
	ck_assert(!vm.cpu.exc.pending);
	/* ... a fetch raises #PF(P | I/D). */
	ck_assert_int_eq(mmu_translate(vm.mmu, 0x16010, PF_ACC_FETCH | PF_ACC_USER, &pa), -1);
	ck_assert(vm.cpu.exc.pending);
	ck_assert_uint_eq(vm.cpu.exc.vector, VEC_PF);
	ck_assert_uint_eq(vm.cpu.exc.err, 0x15);
	ck_assert_uint_eq(vm.cpu.sh->cr2, 0x16010);
	vm.cpu.exc.pending = false;
	/* Clearing NXE makes bit 63 reserved: the mapping goes, the next access faults. */
	vm.cpu.efer = 0;
	mmu_paging_changed(vm.mmu);
	ck_assert(!mapped(0x16000));
	ck_assert_int_eq(mmu_fault(vm.mmu, 0x16000, false), 0);
	ck_assert_uint_eq(vm.cpu.exc.err, 0x9);
}
END_TEST

static Suite *mmu_suite(void)
{
	Suite *s = suite_create("mmu");
	TCase *tc = tcase_create("mmu");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fault_maps_page);
	tcase_add_test(tc, budget_drops_everything_when_full);
	tcase_add_test(tc, budget_holds_for_scattered_pages);
	tcase_add_test(tc, code_protection_past_the_budget);
	tcase_add_test(tc, cr3_load_keeps_global_pages);
	tcase_add_test(tc, invlpg_drops_one_page);
	tcase_add_test(tc, cr3_load_back_maps_working_set);
	tcase_add_test(tc, read_only_until_dirty);
	tcase_add_test(tc, invlpg_drops_whole_4m_page);
	tcase_add_test(tc, pae_invlpg_drops_whole_2m_page);
	tcase_add_test(tc, pae_above_4g_is_not_ram);
	tcase_add_test(tc, pae_cr3_load_checks_pdptes);
	tcase_add_test(tc, pae_fetch_from_xd_page);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mmu_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
