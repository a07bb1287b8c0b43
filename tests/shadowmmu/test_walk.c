/*
 * test_walk.c - the guest page-table walker (shadowmmu/walk.c) on tables written into
 * guest RAM of a test VM: 4 KiB and 4 MiB translations, not-present and protection
 * error codes, CR0.WP, reserved bits, accessed/dirty bits, walk_peek(), tables at the
 * edge of RAM and beyond it, and A/D writes invalidating translated code. Then PAE
 * paging: the PDPTE registers and their load, 4 KiB and 2 MiB pages in 64-bit
 * entries, rights, A/D, reserved bits up to MAXPHYADDR = 36, physical addresses above
 * 4 GiB, and XD with and without IA32_EFER.NXE (the I/D bit of the error code).
 * Last, the walker alone: a struct cpu and a struct guest_mem over plain memory.
 *
 * Tables: the page directory at PD, page tables at PT_LO (linear 0-4 MiB) and PT_HI
 * (linear 0xc0000000-0xc03fffff); for PAE, the PDPT at PDPT, page directories at
 * PAE_PD0 (linear 0-1 GiB) and PAE_PD3 (3-4 GiB), page tables at PAE_PT_LO (linear
 * 0-2 MiB) and PAE_PT_HI (0xc0000000-0xc01fffff). Guest RAM is TVM_MEM (4 MiB) and
 * starts zeroed.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testvm.h"
#include "../../codecache/codecache.h"
#include "../../rewriter/rewriter.h"
#include "../../shadowmmu/mem.h"
#include "../../shadowmmu/mmu.h"
#include "../../shadowmmu/walk.h"
#include "../../monitor/exceptions.h"

static struct vm vm;

#define PD      0x200000u
#define PT_LO   0x201000u
#define PT_HI   0x202000u

#define P       PTE_P
#define RW      PTE_RW
#define US      PTE_US
#define PS      PTE_PS
#define G       PTE_G
#define A       PTE_A
#define D       PTE_D

#define RD      0u
#define WR      PF_ACC_WRITE
#define USR     PF_ACC_USER

static void setup(void)
{
	tvm_create(&vm);
	vm.cpu.cr0 = CR0_PE | CR0_PG;
	vm.cpu.cr3 = PD;
	vm.cpu.cr4 = 0;
}
static void teardown(void) { vm_destroy(&vm); }

static uint32_t pde_at(uint32_t lin) { return PD + (lin >> 22) * 4; }
static uint32_t pte_at(uint32_t pt, uint32_t lin) { return pt + ((lin >> 12) & 0x3ff) * 4; }
static void set_pde(uint32_t lin, uint32_t v) { tvm_wr32(&vm, pde_at(lin), v); }
static void set_pte(uint32_t pt, uint32_t lin, uint32_t v) { tvm_wr32(&vm, pte_at(pt, lin), v); }

/* lin in the low 4 MiB mapped to pa with the given PDE and PTE flags. */
static void map_lo(uint32_t lin, uint32_t pa, uint32_t pde_flags, uint32_t pte_flags)
{
	set_pde(lin, PT_LO | pde_flags);
	set_pte(PT_LO, lin, (pa & ~0xfffu) | pte_flags);
}

static void walk_ok(uint32_t lin, unsigned acc, struct walk *w)
{
	uint32_t r = walk(&vm.cpu, &vm.mem, lin, acc, w);
	ck_assert_msg(r == 0, "walk(%#x, acc %#x) faulted with %#x", lin, acc, r);
}

#define ck_fault(lin, acc, err) do {                                                  \
	struct walk w_ = { .pa = 0x5a5a5a5a };                                            \
	uint32_t r_ = walk(&vm.cpu, &vm.mem, (lin), (acc), &w_);                         \
	ck_assert_msg(r_ == (PF_FAULT | (err)), "walk(%#x, acc %#x) = %#x, want %#x",     \
		      (unsigned)(lin), (unsigned)(acc), r_, PF_FAULT | (err));             \
	ck_assert_uint_eq(w_.pa, 0x5a5a5a5a);   /* *w untouched on a fault */          \
} while (0)

/* ---- translations ---- */

START_TEST(identity_4k)
{
	map_lo(0x123456, 0x123000, P | RW | US, P | RW | US);
	struct walk w;
	walk_ok(0x123456, RD, &w);
	ck_assert_uint_eq(w.pa, 0x123456);
	ck_assert_uint_eq(w.page, 0x123000);
	ck_assert_uint_eq(w.size, 4096);
	ck_assert(w.writable);
	ck_assert(w.user);
	ck_assert(!w.global);
	ck_assert(!w.dirty);
	ck_assert_uint_eq(w.pde_pa, PD);
	ck_assert_uint_eq(w.pte_pa, PT_LO + 0x123 * 4);
	/* Another page of the same table, not mapped: not present. */
	ck_fault(0x124000, RD, 0);
}
END_TEST

START_TEST(higher_half)
{
	set_pde(0xc0000000, PT_HI | P | RW);
	set_pte(PT_HI, 0xc0001000, 0x1000 | P | RW);
	struct walk w;
	walk_ok(0xc0001abc, RD, &w);
	ck_assert_uint_eq(w.pa, 0x1abc);
	ck_assert_uint_eq(w.page, 0x1000);
	ck_assert_uint_eq(w.pde_pa, PD + 0x300 * 4);
	ck_assert_uint_eq(w.pte_pa, PT_HI + 1 * 4);
	ck_assert(w.writable);
	ck_assert(!w.user);
	/* The low half is not mapped by the same entries. */
	ck_fault(0x00001abc, RD, 0);
	/* CR3's low 12 bits (PWT, PCD, ignored ones) do not move the directory. */
	vm.cpu.cr3 = PD | 0x018;
	walk_ok(0xc0001abc, RD, &w);
	ck_assert_uint_eq(w.pa, 0x1abc);
}
END_TEST

START_TEST(pse_4m_page)
{
	vm.cpu.cr4 = CR4_PSE;
	set_pde(0x00c00000, 0x00000000 | P | RW | US | PS);
	struct walk w;
	walk_ok(0x00c05123, RD, &w);
	ck_assert_uint_eq(w.pa, 0x00005123);
	ck_assert_uint_eq(w.page, 0);
	ck_assert_uint_eq(w.size, 4u << 20);
	ck_assert_uint_eq(w.pde_pa, PD + 3 * 4);
	ck_assert_uint_eq(w.pte_pa, w.pde_pa);
	ck_assert(w.writable && w.user);
	/* A frame above RAM is still a translation (a device's range, say). */
	set_pde(0x01000000, 0xffc00000 | P | PS);
	walk_ok(0x013fffff, RD, &w);
	ck_assert_uint_eq(w.pa, 0xffffffff);
	ck_assert_uint_eq(w.page, 0xffc00000);
	ck_assert(w.writable && !w.user);       /* supervisor, CR0.WP = 0 */
	vm.cpu.cr0 |= CR0_WP;
	walk_ok(0x013fffff, RD, &w);
	ck_assert(!w.writable);
}
END_TEST

/* With CR4.PSE = 0 the PS bit is ignored: the PDE points to a page table, here at 0. */
START_TEST(ps_ignored_without_pse)
{
	set_pde(0x00c00000, 0x00000000 | P | RW | US | PS);
	tvm_wr32(&vm, 5 * 4, 0x345000 | P | RW | US);
	struct walk w;
	walk_ok(0x00c05123, RD, &w);
	ck_assert_uint_eq(w.pa, 0x345123);
	ck_assert_uint_eq(w.size, 4096);
	ck_assert_uint_eq(w.pte_pa, 5 * 4);
	ck_assert_uint_eq(tvm_rd32(&vm, 5 * 4) & A, A);
	/* The same PDE with PSE on is a 4 MiB page. */
	vm.cpu.cr4 = CR4_PSE;
	walk_ok(0x00c05123, RD, &w);
	ck_assert_uint_eq(w.pa, 0x5123);
	ck_assert_uint_eq(w.size, 4u << 20);
}
END_TEST

START_TEST(paging_off_is_identity)
{
	vm.cpu.cr0 = CR0_PE;
	struct walk w;
	ck_assert_uint_eq(walk(&vm.cpu, &vm.mem, 0xfee00abc, WR | USR, &w), 0);
	ck_assert_uint_eq(w.pa, 0xfee00abc);
	ck_assert_uint_eq(w.page, 0xfee00000);
	ck_assert_uint_eq(w.size, 4096);
	ck_assert(w.writable && w.user && w.dirty);
}
END_TEST

/* ---- not present ---- */

START_TEST(pde_not_present)
{
	ck_fault(0x00400000, RD, 0);
	ck_fault(0x00400000, WR, 2);
	ck_fault(0x00400000, USR, 4);
	ck_fault(0x00400000, USR | WR, 6);
	/* Fetches do not set I/D (no NX, no SMEP). */
	ck_fault(0x00400000, PF_ACC_FETCH | USR, 4);
	/* Every other bit set does not make it present, even with PSE. */
	vm.cpu.cr4 = CR4_PSE;
	set_pde(0x00400000, 0xfffffffe);
	ck_fault(0x00400000, USR | WR, 6);
	ck_assert_uint_eq(tvm_rd32(&vm, pde_at(0x00400000)), 0xfffffffe);
}
END_TEST

START_TEST(pte_not_present)
{
	set_pde(0x5000, PT_LO | P | RW | US);
	set_pte(PT_LO, 0x5000, 0xfffffffe);
	ck_fault(0x5000, RD, 0);
	ck_fault(0x5000, WR, 2);
	ck_fault(0x5000, USR, 4);
	ck_fault(0x5fff, USR | WR, 6);
	ck_assert_uint_eq(tvm_rd32(&vm, PD), PT_LO | P | RW | US);     /* no PDE.A */
}
END_TEST

/* ---- rights ---- */

START_TEST(user_needs_us_at_both_levels)
{
	struct walk w;
	map_lo(0x7000, 0x7000, P | RW, P | RW | US);
	ck_fault(0x7000, USR, 5);
	ck_fault(0x7000, USR | WR, 7);
	walk_ok(0x7000, RD, &w);                /* supervisor reads anything present */
	ck_assert(!w.user);

	map_lo(0x7000, 0x7000, P | RW | US, P | RW);
	ck_fault(0x7000, USR, 5);
	walk_ok(0x7000, WR, &w);
	ck_assert(!w.user);

	map_lo(0x7000, 0x7000, P | RW | US, P | RW | US);
	walk_ok(0x7000, USR, &w);
	ck_assert(w.user && w.writable);
}
END_TEST

START_TEST(user_write_needs_rw_at_both_levels)
{
	struct walk w;
	map_lo(0x8000, 0x8000, P | US, P | RW | US);
	ck_fault(0x8000, USR | WR, 7);
	walk_ok(0x8000, USR, &w);
	ck_assert(w.user && !w.writable);

	map_lo(0x8000, 0x8000, P | RW | US, P | US);
	ck_fault(0x8000, USR | WR, 7);
	walk_ok(0x8000, USR, &w);
	ck_assert(!w.writable);

	/* CR0.WP does not matter to user accesses. */
	vm.cpu.cr0 &= ~CR0_WP;
	ck_fault(0x8000, USR | WR, 7);

	map_lo(0x8000, 0x8000, P | RW | US, P | RW | US);
	walk_ok(0x8000, USR | WR, &w);
	ck_assert(w.writable);
}
END_TEST

START_TEST(supervisor_write_and_cr0_wp)
{
	struct walk w;
	map_lo(0x9000, 0x9000, P | RW, P);
	vm.cpu.cr0 &= ~CR0_WP;
	walk_ok(0x9000, RD, &w);
	ck_assert(w.writable);                  /* WP = 0: supervisor may write anyway */
	walk_ok(0x9000, WR, &w);
	ck_assert(w.writable && w.dirty);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0x9000)), 0x9000 | P | A | D);

	vm.cpu.cr0 |= CR0_WP;
	ck_fault(0x9000, WR, 3);
	walk_ok(0x9000, RD, &w);
	ck_assert(!w.writable);

	/* Read-only at the PDE level only. */
	map_lo(0x9000, 0x9000, P, P | RW);
	ck_fault(0x9000, WR, 3);
	vm.cpu.cr0 &= ~CR0_WP;
	walk_ok(0x9000, WR, &w);

	/* 4 MiB page, read-only. */
	vm.cpu.cr4 = CR4_PSE;
	set_pde(0x00800000, 0x00400000 | P | PS);
	walk_ok(0x00800000, WR, &w);
	vm.cpu.cr0 |= CR0_WP;
	ck_fault(0x00800000, WR, 3);
}
END_TEST

/* ---- reserved bits ---- */

START_TEST(rsvd_in_4m_pde)
{
	vm.cpu.cr4 = CR4_PSE;
	set_pde(0x00400000, 0x00402000 | P | RW | US | PS);    /* bit 13 */
	ck_fault(0x00400000, RD, 0x9);
	ck_fault(0x00400000, WR, 0xb);
	ck_fault(0x00400000, USR | WR, 0xf);
	ck_assert_uint_eq(tvm_rd32(&vm, pde_at(0x00400000)) & A, 0);
	set_pde(0x00400000, 0x00600000 | P | RW | US | PS);    /* bit 21 */
	ck_fault(0x00400000, RD, 0x9);
	/* Bit 12 is PAT, not reserved. */
	set_pde(0x00400000, 0x00401000 | P | RW | US | PS);
	struct walk w;
	walk_ok(0x00400234, RD, &w);
	ck_assert_uint_eq(w.page, 0x00400000);
	ck_assert_uint_eq(w.pa, 0x00400234);
	/* Without PSE the same bits are a page-table address. */
	vm.cpu.cr4 = 0;
	set_pde(0x00400000, 0x00202000 | P | RW | US | PS);
	tvm_wr32(&vm, 0x00202000, 0x3000 | P);
	walk_ok(0x00400000, RD, &w);
	ck_assert_uint_eq(w.pa, 0x3000);
}
END_TEST

/* ---- accessed and dirty ---- */

START_TEST(accessed_after_success_only)
{
	struct walk w;
	map_lo(0xa000, 0xa000, P | RW, P | RW);
	ck_fault(0xa000, USR, 5);
	ck_assert_uint_eq(tvm_rd32(&vm, PD), PT_LO | P | RW);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xa000)), 0xa000 | P | RW);

	walk_ok(0xa000, RD, &w);
	ck_assert_uint_eq(tvm_rd32(&vm, PD), PT_LO | P | RW | A);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xa000)), 0xa000 | P | RW | A);
	ck_assert(!w.dirty);

	/* Only the entries used: the next PTE stays as it was. */
	set_pte(PT_LO, 0xb000, 0xb000 | P);
	walk_ok(0xa000, RD, &w);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xb000)), 0xb000 | P);
}
END_TEST

START_TEST(dirty_on_write_final_entry)
{
	struct walk w;
	map_lo(0xc000, 0xc000, P | RW, P | RW);
	walk_ok(0xc000, RD, &w);
	ck_assert(!w.dirty);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xc000)) & D, 0);
	walk_ok(0xc000, WR, &w);
	ck_assert(w.dirty);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xc000)), 0xc000 | P | RW | A | D);
	ck_assert_uint_eq(tvm_rd32(&vm, PD), PT_LO | P | RW | A);     /* no D in the PDE */
	walk_ok(0xc000, RD, &w);
	ck_assert(w.dirty);                     /* reported as found */

	/* A faulting write sets nothing. */
	vm.cpu.cr0 |= CR0_WP;
	set_pte(PT_LO, 0xd000, 0xd000 | P);
	ck_fault(0xd000, WR, 3);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xd000)), 0xd000 | P);

	/* A 4 MiB page: A and D in the PDE. */
	vm.cpu.cr4 = CR4_PSE;
	set_pde(0x00400000, 0x00400000 | P | RW | PS);
	walk_ok(0x00400010, RD, &w);
	ck_assert_uint_eq(tvm_rd32(&vm, pde_at(0x00400000)), 0x00400000 | P | RW | PS | A);
	ck_assert(!w.dirty);
	walk_ok(0x00400010, WR, &w);
	ck_assert(w.dirty);
	ck_assert_uint_eq(tvm_rd32(&vm, pde_at(0x00400000)), 0x00400000 | P | RW | PS | A | D);
}
END_TEST

START_TEST(peek_changes_nothing)
{
	struct walk w, p;
	map_lo(0xe000, 0xe000, P | RW | US, P | RW | US);
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0xe123, USR | WR, &p), 0);
	ck_assert_uint_eq(tvm_rd32(&vm, PD), PT_LO | P | RW | US);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xe000)), 0xe000 | P | RW | US);
	ck_assert(!p.dirty);
	walk_ok(0xe123, USR | WR, &w);
	ck_assert_uint_eq(w.pa, p.pa);
	ck_assert_uint_eq(w.pte_pa, p.pte_pa);
	ck_assert(w.writable == p.writable && w.user == p.user);
	ck_assert(w.dirty);
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0xe123, RD, &p), 0);
	ck_assert(p.dirty);

	/* Same faults as walk(). */
	set_pte(PT_LO, 0xe000, 0xe000 | P);
	vm.cpu.cr0 |= CR0_WP;
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0xe000, USR, &p), PF_FAULT | 5);
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0xe000, WR, &p), PF_FAULT | 3);
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0xf000, RD, &p), PF_FAULT | 0);
	ck_assert_uint_eq(tvm_rd32(&vm, pte_at(PT_LO, 0xe000)), 0xe000 | P);
}
END_TEST

/* ---- global ---- */

START_TEST(global_bit)
{
	struct walk w;
	map_lo(0x3000, 0x3000, P | RW, P | RW | G);
	walk_ok(0x3000, RD, &w);
	ck_assert(w.global);
	vm.cpu.cr4 = CR4_PGE;
	walk_ok(0x3000, RD, &w);
	ck_assert(w.global);
	/* G in a PDE that points to a page table is ignored. */
	map_lo(0x3000, 0x3000, P | RW | G, P | RW);
	walk_ok(0x3000, RD, &w);
	ck_assert(!w.global);
	/* The 4 MiB PDE is the final entry. */
	vm.cpu.cr4 = CR4_PSE | CR4_PGE;
	set_pde(0xc0000000, 0 | P | RW | PS | G);
	walk_ok(0xc0000000, RD, &w);
	ck_assert(w.global);
	set_pde(0xc0000000, 0 | P | RW | PS);
	walk_ok(0xc0000000, RD, &w);
	ck_assert(!w.global);
}
END_TEST

/* ---- tables at the edge of RAM ---- */

START_TEST(tables_at_top_of_ram)
{
	uint32_t pd = TVM_MEM - 0x1000, pt = TVM_MEM - 0x2000;
	vm.cpu.cr3 = pd;
	tvm_wr32(&vm, pd + 0x3ff * 4, pt | P | RW | US);
	tvm_wr32(&vm, pt + 0x3ff * 4, 0x2000 | P | RW | US);
	struct walk w;
	walk_ok(0xfffff004, USR | WR, &w);
	ck_assert_uint_eq(w.pa, 0x2004);
	ck_assert_uint_eq(w.pde_pa, TVM_MEM - 4);
	ck_assert_uint_eq(w.pte_pa, TVM_MEM - 0x1004);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_MEM - 4), pt | P | RW | US | A);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_MEM - 0x1004), 0x2000 | P | RW | US | A | D);
}
END_TEST

START_TEST(tables_outside_ram)
{
	/* A page table just past the end of RAM reads as not present. */
	set_pde(0x1000, TVM_MEM | P | RW | US);
	ck_fault(0x1000, RD, 0);
	ck_fault(0x1000, USR | WR, 6);
	ck_assert_uint_eq(tvm_rd32(&vm, PD), TVM_MEM | P | RW | US);
	set_pde(0x1000, 0xfffff000 | P | RW | US);
	ck_fault(0x1000, WR, 2);
	/* So does a directory there. */
	vm.cpu.cr3 = 0x80000000;
	ck_fault(0x1000, RD, 0);
	vm.cpu.cr3 = 0xfffff000;
	ck_fault(0xffffffff, USR, 4);
}
END_TEST

/* ---- A/D writes and translated code ---- */

/* A page table sharing a page with translated code: setting A/D bits is a write to
 * that page and must invalidate the code, once; a peek must not. */
START_TEST(ad_write_invalidates_code)
{
	static const uint8_t code[] = { 0xe6, 0xf4 };          /* out 0xf4,al */
	tvm_load(&vm, TVM_CODE, code, sizeof(code));
	uint32_t pt = TVM_CODE;                                 /* entries from 0x800 on */
	uint32_t lin = 0x200 << 12;
	set_pde(lin, pt | P | RW);
	set_pte(pt, lin, 0x5000 | P | RW);
	uint32_t saved_cr0 = vm.cpu.cr0;
	vm.cpu.cr0 = CR0_PE;
	ck_assert_ptr_nonnull(rw_translate(vm.rw, TVM_CODE, false));
	vm.cpu.cr0 = saved_cr0;
	ck_assert(cc_page_has_code(vm.cc, TVM_CODE >> 12));
	uint64_t smc = vm.stats.smc_invalidations;

	struct walk w;
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, lin, WR, &w), 0);
	ck_assert(cc_page_has_code(vm.cc, TVM_CODE >> 12));
	walk_ok(lin, WR, &w);
	ck_assert_uint_eq(w.pte_pa, pt + 0x200 * 4);
	ck_assert(!cc_page_has_code(vm.cc, TVM_CODE >> 12));
	ck_assert_uint_eq(vm.stats.smc_invalidations, smc + 1);

	/* A and D already set: no write, the new translation stays. */
	vm.cpu.cr0 = CR0_PE;
	ck_assert_ptr_nonnull(rw_translate(vm.rw, TVM_CODE, false));
	vm.cpu.cr0 = saved_cr0;
	walk_ok(lin, WR, &w);
	ck_assert(cc_page_has_code(vm.cc, TVM_CODE >> 12));
	ck_assert_uint_eq(vm.stats.smc_invalidations, smc + 1);
}
END_TEST

/* ---- PAE paging (SDM Vol. 3, 4.4) ---- */

#define PDPT      0x210000u
#define PAE_PD0   0x211000u
#define PAE_PD3   0x212000u
#define PAE_PT_LO 0x213000u
#define PAE_PT_HI 0x214000u
#define XD        PTE_XD
#define FETCH     PF_ACC_FETCH

static uint64_t rd64(uint32_t pa) { return tvm_rd32(&vm, pa) | (uint64_t)tvm_rd32(&vm, pa + 4) << 32; }
static uint32_t pae_pde_at(uint32_t lin) { return (lin >> 30 ? PAE_PD3 : PAE_PD0) + ((lin >> 21) & 0x1ff) * 8; }
static uint32_t pae_pte_at(uint32_t lin) { return (lin >> 30 ? PAE_PT_HI : PAE_PT_LO) + ((lin >> 12) & 0x1ff) * 8; }
static void pae_set_pde(uint32_t lin, uint64_t v) { tvm_wr64(&vm, pae_pde_at(lin), v); }
static void pae_set_pte(uint32_t lin, uint64_t v) { tvm_wr64(&vm, pae_pte_at(lin), v); }

/* lin (in linear 0-2 MiB or 0xc0000000-0xc01fffff) mapped to pa with a 4 KiB page. */
static void pae_map(uint32_t lin, uint64_t pa, uint64_t pde_flags, uint64_t pte_flags)
{
	pae_set_pde(lin, (lin >> 30 ? PAE_PT_HI : PAE_PT_LO) | pde_flags);
	pae_set_pte(lin, (pa & ~0xfffull) | pte_flags);
}

/* PAE paging on: PDPTE 0 -> PAE_PD0, PDPTE 3 -> PAE_PD3, 1 and 2 not present. */
static void pae_setup(void)
{
	setup();
	vm.cpu.cr4 = CR4_PAE;
	vm.cpu.cr3 = PDPT;
	tvm_wr64(&vm, PDPT, PAE_PD0 | P);
	tvm_wr64(&vm, PDPT + 24, PAE_PD3 | P);
	ck_assert(walk_load_pdptes(&vm.cpu, &vm.mem, PDPT));
}

START_TEST(pae_4k)
{
	pae_map(0x123456, 0x345000, P | RW | US, P | RW | US);
	struct walk w;
	walk_ok(0x123456, RD, &w);
	ck_assert_uint_eq(w.pa, 0x345456);
	ck_assert_uint_eq(w.page, 0x345000);
	ck_assert_uint_eq(w.size, 4096);
	ck_assert(w.writable && w.user && !w.global && !w.dirty);
	ck_assert_uint_eq(w.pde_pa, PAE_PD0);
	ck_assert_uint_eq(w.pte_pa, PAE_PT_LO + 0x123 * 8);
	/* A in the PDE and the PTE; nothing in the PDPTE (a register, bit 5 reserved). */
	ck_assert_uint_eq(rd64(PAE_PD0), PAE_PT_LO | P | RW | US | A);
	ck_assert_uint_eq(rd64(PAE_PT_LO + 0x123 * 8), 0x345000 | P | RW | US | A);
	ck_assert_uint_eq(rd64(PDPT), PAE_PD0 | P);
	/* 9-bit indexes: the PTE after 0x1ff of a table is in the next PDE's table. */
	ck_fault(0x124000, RD, 0);
	ck_fault(0x200000, RD, 0);

	/* The top GiB: PDPTE 3, PDE 1, PTE 0x145. */
	pae_map(0xc0345678, 0x1000, P | RW, P | RW);
	walk_ok(0xc0345678, RD, &w);
	ck_assert_uint_eq(w.pa, 0x1678);
	ck_assert_uint_eq(w.pde_pa, PAE_PD3 + 1 * 8);
	ck_assert_uint_eq(w.pte_pa, PAE_PT_HI + 0x145 * 8);
	ck_assert(!w.user);
	/* PDPTEs 1 and 2 are not present. */
	ck_fault(0x40000000, RD, 0);
	ck_fault(0xbfffffff, USR | WR, 6);
	/* Out of PAE: the same CR3 is a 32-bit page directory again. */
	vm.cpu.cr4 = 0;
	ck_fault(0x123456, RD, 0);
}
END_TEST

START_TEST(pae_2m_page)
{
	/* PS in a PDE maps 2 MiB, CR4.PSE or not (4.4.2). */
	pae_set_pde(0x00400000, 0x00200000 | P | RW | US | PS);
	struct walk w;
	walk_ok(0x005fedcb, RD, &w);
	ck_assert_uint_eq(w.pa, 0x003fedcb);
	ck_assert_uint_eq(w.page, 0x00200000);
	ck_assert_uint_eq(w.size, 2u << 20);
	ck_assert_uint_eq(w.pde_pa, PAE_PD0 + 2 * 8);
	ck_assert_uint_eq(w.pte_pa, w.pde_pa);
	ck_assert(w.writable && w.user && !w.dirty);
	ck_assert_uint_eq(rd64(PAE_PD0 + 16), 0x00200000 | P | RW | US | PS | A);
	walk_ok(0x00400000, WR, &w);
	ck_assert(w.dirty);
	ck_assert_uint_eq(rd64(PAE_PD0 + 16), 0x00200000 | P | RW | US | PS | A | D);
	/* The neighbouring 2 MiB is another PDE. */
	ck_fault(0x00600000, RD, 0);
	/* Bit 12 is PAT, not an address bit nor reserved. */
	pae_set_pde(0x00400000, 0x00201000 | P | PS);
	walk_ok(0x00412345, RD, &w);
	ck_assert_uint_eq(w.pa, 0x00212345);
	/* Bits 20:13 are reserved (Table 4-9). */
	pae_set_pde(0x00400000, 0x00202000 | P | PS);
	ck_fault(0x00400000, RD, 0x9);
	pae_set_pde(0x00400000, 0x00300000 | P | PS);
	ck_fault(0x00400000, USR | WR, 0xf);
	ck_assert_uint_eq(rd64(PAE_PD0 + 16), 0x00300000 | P | PS);
	/* Global: G of the 2 MiB PDE. */
	pae_set_pde(0x00400000, 0x00200000 | P | PS | G);
	walk_ok(0x00400000, RD, &w);
	ck_assert(w.global);
	/* Without PS the same PDE points to a page table. */
	pae_set_pde(0x00400000, 0x00200000 | P | RW);
	tvm_wr64(&vm, 0x00200000 + 8, 0x5000 | P);
	walk_ok(0x00401abc, RD, &w);
	ck_assert_uint_eq(w.pa, 0x5abc);
	ck_assert_uint_eq(w.size, 4096);
	ck_assert(!w.global);
}
END_TEST

START_TEST(pae_rights)
{
	struct walk w;
	/* U/S and R/W: the AND of the PDE and the PTE. */
	pae_map(0x7000, 0x7000, P | RW, P | RW | US);
	ck_fault(0x7000, USR, 5);
	walk_ok(0x7000, WR, &w);
	pae_map(0x7000, 0x7000, P | RW | US, P | RW);
	ck_fault(0x7000, USR | WR, 7);
	pae_map(0x7000, 0x7000, P | US, P | RW | US);
	ck_fault(0x7000, USR | WR, 7);
	walk_ok(0x7000, USR, &w);
	ck_assert(w.user && !w.writable);
	/* Supervisor writes to read-only pages: CR0.WP. */
	pae_map(0x7000, 0x7000, P | RW, P);
	walk_ok(0x7000, WR, &w);
	ck_assert(w.writable);
	vm.cpu.cr0 |= CR0_WP;
	ck_fault(0x7000, WR, 3);
	walk_ok(0x7000, RD, &w);
	ck_assert(!w.writable);
	/* A read-only 2 MiB page. */
	pae_set_pde(0x00400000, 0x00200000 | P | US | PS);
	ck_fault(0x00500000, WR, 3);
	ck_fault(0x00500000, USR | WR, 7);
	walk_ok(0x00500000, USR, &w);
	/* A faulting access sets no A/D bit. */
	ck_assert_uint_eq(rd64(PAE_PT_LO + 7 * 8), 0x7000 | P | A | D);
	pae_map(0x8000, 0x8000, P | RW, P);
	ck_fault(0x8000, WR, 3);
	ck_assert_uint_eq(rd64(PAE_PT_LO + 8 * 8), 0x8000 | P);
}
END_TEST

START_TEST(pae_reserved_bits)
{
	struct walk w;
	/* MAXPHYADDR = 36: bit 35 is an address bit, bits 62:36 are reserved, in the PTE
	 * and in a PDE that points to a table. RSVD comes with P. */
	pae_map(0x3000, 0x800003000ull, P | RW, P | RW);
	walk_ok(0x3010, WR, &w);
	ck_assert_uint_eq(w.pa, 0x800003010ull);       /* above 4 GiB: not RAM, still a translation */
	ck_assert_uint_eq(w.page, 0x800003000ull);
	pae_map(0x3000, 0x1000000000ull | 0x3000, P | RW, P | RW);     /* bit 36 */
	ck_fault(0x3000, RD, 0x9);
	ck_fault(0x3000, USR | WR, 0xf);
	pae_map(0x3000, 0x4000000000000000ull | 0x3000, P | RW, P | RW);       /* bit 62 */
	ck_fault(0x3000, RD, 0x9);
	pae_map(0x3000, 0x3000, (1ull << 40) | P | RW, P | RW);
	ck_fault(0x3000, WR, 0xb);
	/* Not present: nothing else is checked. */
	pae_map(0x3000, 0x3000, P | RW, 0xfffffffffffffffeull);
	ck_fault(0x3000, RD, 0);
	pae_set_pde(0x3000, 0xfffffffffffffffeull);
	ck_fault(0x3000, WR, 2);
	/* Ignored bits (11:9, and 8 and 6 of a PDE that points to a table) are not. */
	pae_map(0x3000, 0x3000, P | RW | 0xe00 | 0x140, P | RW | 0xe00);
	walk_ok(0x3000, RD, &w);
	ck_assert_uint_eq(w.pa, 0x3000);
	/* A PTE in a table beyond RAM (and beyond 4 GiB) reads as not present. */
	pae_set_pde(0x3000, 0x900000000ull | P | RW);
	ck_fault(0x3000, RD, 0);
	pae_set_pde(0x3000, TVM_MEM | P | RW);
	ck_fault(0x3000, RD, 0);
}
END_TEST

START_TEST(pae_pdpte_load)
{
	struct walk w;
	pae_map(0x1000, 0x2000, P | RW, P | RW);
	/* Reserved bits in a present PDPTE (Table 4-8): 2:1, 8:5, 63:36. The load fails
	 * and the registers keep what they had. */
	static const uint64_t bad[] = { 1u << 1, 1u << 2, 1u << 5, 1u << 6, 1u << 7, 1u << 8,
					1ull << 36, 1ull << 52, 1ull << 62, XD };
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		tvm_wr64(&vm, PDPT + 8, 0x100000 | P | bad[k]);
		ck_assert_msg(!walk_load_pdptes(&vm.cpu, &vm.mem, PDPT), "PDPTE bit %#llx accepted",
			      (unsigned long long)bad[k]);
		ck_assert_uint_eq(vm.cpu.pdpte[0], PAE_PD0 | P);
		ck_assert_uint_eq(vm.cpu.pdpte[1], 0);
	}
	/* ... with NXE too: a PDPTE has no XD bit. */
	vm.cpu.efer = EFER_NXE;
	ck_assert(!walk_load_pdptes(&vm.cpu, &vm.mem, PDPT));
	/* Not present: any other bits load. */
	tvm_wr64(&vm, PDPT + 8, 0xfffffffffffffffeull);
	ck_assert(walk_load_pdptes(&vm.cpu, &vm.mem, PDPT));
	ck_assert_uint_eq(vm.cpu.pdpte[1], 0xfffffffffffffffeull);
	ck_fault(0x40000000, RD, 0);
	/* PWT, PCD and the ignored bits 11:9 are fine; the address may be above 4 GiB. */
	tvm_wr64(&vm, PDPT + 8, 0x800000000ull | 0xe18 | P);
	ck_assert(walk_load_pdptes(&vm.cpu, &vm.mem, PDPT));
	ck_fault(0x40000000, RD, 0);            /* a directory outside RAM: not present */

	/* The registers are used, not the table in memory, until the next load. */
	tvm_wr64(&vm, PDPT, 0);
	walk_ok(0x1000, RD, &w);
	ck_assert_uint_eq(w.pa, 0x2000);
	ck_assert(walk_load_pdptes(&vm.cpu, &vm.mem, PDPT));
	ck_fault(0x1000, RD, 0);

	/* 32-byte aligned, CR3 bits 4:0 ignored. */
	tvm_wr64(&vm, PDPT + 0x20, PAE_PD0 | P);
	ck_assert(walk_load_pdptes(&vm.cpu, &vm.mem, PDPT + 0x20 + 0x1f));
	walk_ok(0x1000, RD, &w);
	ck_assert_uint_eq(vm.cpu.pdpte[0], PAE_PD0 | P);
	ck_assert_uint_eq(vm.cpu.pdpte[1], 0);
	/* A table outside RAM: four not-present PDPTEs. */
	ck_assert(walk_load_pdptes(&vm.cpu, &vm.mem, 0xffffffe0u));
	ck_fault(0x1000, RD, 0);
	ck_fault(0xc0000000, RD, 0);
}
END_TEST

START_TEST(pae_peek_and_ad)
{
	struct walk w, p;
	pae_map(0x9000, 0x9000, P | RW | US, P | RW | US);
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0x9004, USR | WR, &p), 0);
	ck_assert_uint_eq(rd64(PAE_PD0), PAE_PT_LO | P | RW | US);
	ck_assert_uint_eq(rd64(PAE_PT_LO + 9 * 8), 0x9000 | P | RW | US);
	ck_assert(!p.dirty);
	walk_ok(0x9004, USR, &w);
	ck_assert_uint_eq(rd64(PAE_PT_LO + 9 * 8), 0x9000 | P | RW | US | A);
	ck_assert(!w.dirty);
	walk_ok(0x9004, USR | WR, &w);
	ck_assert_uint_eq(w.pa, p.pa);
	ck_assert(w.dirty);
	/* The upper half of the entry is left alone (XD here, with NXE). */
	vm.cpu.efer = EFER_NXE;
	pae_map(0xa000, 0xa000, XD | P | RW, XD | P | RW);
	walk_ok(0xa000, WR, &w);
	ck_assert_uint_eq(rd64(PAE_PD0), XD | PAE_PT_LO | P | RW | A);
	ck_assert_uint_eq(rd64(PAE_PT_LO + 10 * 8), XD | 0xa000 | P | RW | A | D);
	/* walk_peek() reports the same faults. */
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0xa000, FETCH, &p), PF_FAULT | 0x11);
	ck_assert_uint_eq(walk_peek(&vm.cpu, &vm.mem, 0xb000, FETCH, &p), PF_FAULT | 0x10);
}
END_TEST

/* ---- execute-disable (4.6, 4.7) ---- */

START_TEST(pae_nx)
{
	struct walk w;
	vm.cpu.efer = EFER_NXE;
	/* XD in the PTE: reads and writes go, fetches fault with P and I/D at any CPL. */
	pae_map(0x5000, 0x5000, P | RW | US, XD | P | RW | US);
	walk_ok(0x5000, RD, &w);
	walk_ok(0x5000, USR | WR, &w);
	ck_fault(0x5000, FETCH, 0x11);
	ck_fault(0x5000, FETCH | USR, 0x15);
	/* XD in the PDE alone does it too. */
	pae_map(0x5000, 0x5000, XD | P | RW | US, P | RW | US);
	ck_fault(0x5000, FETCH, 0x11);
	walk_ok(0x5000, RD, &w);
	/* In a 2 MiB page. */
	pae_set_pde(0x00400000, XD | 0x00200000 | P | RW | PS);
	ck_fault(0x00400000, FETCH, 0x11);
	walk_ok(0x00400000, WR, &w);
	/* Fetches from pages without XD go. */
	pae_map(0x5000, 0x5000, P | RW | US, P | RW | US);
	walk_ok(0x5000, FETCH | USR, &w);
	ck_assert_uint_eq(w.pa, 0x5000);
	/* A fetch fault is I/D whatever its cause (4.7): not present, rights, reserved. */
	ck_fault(0x6000, FETCH, 0x10);
	ck_fault(0x40000000, FETCH | USR, 0x14);
	pae_map(0x6000, 0x6000, P | RW, P | RW);
	ck_fault(0x6000, FETCH | USR, 0x15);
	pae_map(0x6000, 0x1000000000ull | 0x6000, P | RW, P | RW);
	ck_fault(0x6000, FETCH, 0x19);
	/* ... and only fetches are: data faults have no I/D. */
	ck_fault(0x6000, RD, 0x9);
	ck_fault(0x7000, WR, 0x2);
	/* The XD fault leaves A alone. */
	pae_map(0x5000, 0x5000, P | RW, XD | P | RW);
	tvm_wr64(&vm, PAE_PD0, PAE_PT_LO | P | RW);
	ck_fault(0x5000, FETCH, 0x11);
	ck_assert_uint_eq(rd64(PAE_PD0), PAE_PT_LO | P | RW);
	ck_assert_uint_eq(rd64(PAE_PT_LO + 5 * 8), XD | 0x5000 | P | RW);
}
END_TEST

START_TEST(pae_nx_off)
{
	struct walk w;
	/* NXE = 0: bit 63 is reserved in every entry, and fetch faults have no I/D. */
	pae_map(0x5000, 0x5000, P | RW | US, XD | P | RW | US);
	ck_fault(0x5000, RD, 0x9);
	ck_fault(0x5000, FETCH, 0x9);
	ck_fault(0x5000, FETCH | USR, 0xd);
	pae_map(0x5000, 0x5000, XD | P | RW | US, P | RW | US);
	ck_fault(0x5000, USR | WR, 0xf);
	pae_set_pde(0x00400000, XD | 0x00200000 | P | RW | PS);
	ck_fault(0x00400000, FETCH, 0x9);
	pae_map(0x5000, 0x5000, P | RW | US, P | RW | US);
	walk_ok(0x5000, FETCH, &w);
	ck_fault(0x6000, FETCH, 0);
	/* 32-bit paging has no XD and no I/D, whatever NXE says. */
	vm.cpu.efer = EFER_NXE;
	vm.cpu.cr4 = 0;
	vm.cpu.cr3 = PD;
	map_lo(0x5000, 0x5000, P | RW, P | RW);
	walk_ok(0x5000, FETCH, &w);
	ck_fault(0x6000, FETCH, 0);
	ck_fault(0x6000, FETCH | USR, 4);
}
END_TEST

/* The rewriter fetches through the walker: a block's first byte on an XD page is a
 * #PF with I/D when the block is translated. */
START_TEST(pae_nx_translate)
{
	static const uint8_t code[] = { 0xe6, 0xf4 };          /* out 0xf4,al */
	tvm_load(&vm, TVM_CODE, code, sizeof(code));
	uint32_t lin = 0x1ff000;                                /* -> TVM_CODE */
	vm.cpu.efer = EFER_NXE;
	pae_map(lin, TVM_CODE, P | RW, XD | P | RW);
	mmu_paging_changed(vm.mmu);
	ck_assert_ptr_null(rw_translate(vm.rw, lin, false));
	ck_assert(vm.cpu.exc.pending);
	ck_assert_uint_eq(vm.cpu.exc.vector, VEC_PF);
	ck_assert_uint_eq(vm.cpu.exc.err, 0x11);
	ck_assert_uint_eq(vm.cpu.sh->cr2, lin);
	vm.cpu.exc.pending = false;
	/* Without XD it translates. */
	pae_set_pte(lin, TVM_CODE | P | RW);
	ck_assert_ptr_nonnull(rw_translate(vm.rw, lin, false));
	ck_assert(!vm.cpu.exc.pending);
}
END_TEST

/* ---- the walker alone ---- */

static uint32_t code_writes, code_written_ppn, table_writes;
static void count_written(void *opaque, uint32_t ppn, unsigned what, bool guest)
{
	ck_assert_ptr_null(opaque);
	ck_assert(!guest);
	if (what & MEM_WP_TABLE)
		table_writes++;
	if (!(what & MEM_WP_CODE))
		return;
	code_writes++;
	code_written_ppn = ppn;
}

/* walk.c needs the paging registers and guest memory, nothing of a VM: tables in a
 * buffer, A/D set through mem_write_ad(), which reports a write to a page marked as
 * holding code, and not one to a traced table (A and D change no translation). */
START_TEST(walk_without_vm)
{
	static uint8_t ram[4 * 4096] __attribute__((aligned(4096)));
	uint8_t wp[4] = { MEM_WP_TABLE, MEM_WP_CODE | MEM_WP_TABLE, 0, 0 };
	struct guest_mem mem = { .ram = ram, .size = sizeof(ram), .fd = -1, .wp = wp,
				 .written = count_written };
	struct cpu c = { .cr0 = CR0_PE | CR0_PG, .cr3 = 0 };     /* page directory at 0 */
	uint32_t pde = 0x1000 | P | RW | US, pte = 0x2000 | P | RW | US;
	memcpy(ram, &pde, 4);                                   /* linear 0-4 MiB: PT at 0x1000 */
	memcpy(ram + 0x1000 + 5 * 4, &pte, 4);                  /* 0x5000 -> 0x2000 */
	struct walk w;
	ck_assert_uint_eq(walk_peek(&c, &mem, 0x5abc, WR | USR, &w), 0);
	ck_assert_uint_eq(w.pa, 0x2abc);
	ck_assert(!w.accessed && !w.dirty);
	ck_assert_uint_eq(code_writes, 0);
	ck_assert_uint_eq(walk(&c, &mem, 0x5abc, WR | USR, &w), 0);
	ck_assert_uint_eq(w.pa, 0x2abc);
	ck_assert(w.accessed && w.dirty && w.writable && w.user);
	memcpy(&pde, ram, 4);
	memcpy(&pte, ram + 0x1000 + 5 * 4, 4);
	ck_assert_uint_eq(pde & (A | D), A);
	ck_assert_uint_eq(pte & (A | D), A | D);
	ck_assert_uint_eq(code_writes, 1);                      /* the PTE's write; not the PDE's */
	ck_assert_uint_eq(code_written_ppn, 1);
	ck_assert_uint_eq(table_writes, 0);                     /* A and D: no table write */
	uint32_t v = 0;                                         /* any other write is one */
	ck_assert(mem_write_phys(&mem, 0x10, &v, 4));
	ck_assert_uint_eq(table_writes, 1);
	ck_assert_uint_eq(code_writes, 1);
	ck_assert_uint_eq(walk(&c, &mem, 0x6000, RD, &w), PF_FAULT);
	c.cr0 = CR0_PE;                                         /* paging off: identity */
	ck_assert_uint_eq(walk(&c, &mem, 0x1234567, RD, &w), 0);
	ck_assert_uint_eq(w.pa, 0x1234567);
}
END_TEST

/* walk_fetch() decides every fetch as walk_peek() does, on tables of random entries
 * (present or not, large or not, U/S, XD and reserved bits set at random, frames in
 * RAM or past it), under 32-bit paging with and without CR4.PSE and PAE with and
 * without EFER.NXE, at CPL 3 and below. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static uint64_t rnd_entry(bool pae, uint32_t npages)
{
	uint64_t frame = rnd() % 8 ? rnd() % npages : rnd() % (4 * npages);
	uint64_t e = frame << 12 | (rnd() & 0xfff & ~(uint32_t)(rnd() % 4 ? 0 : PTE_P));
	if (rnd() % 3 == 0)
		e &= ~(uint64_t)PTE_PS;
	if (pae) {
		if (rnd() % 4 == 0)
			e |= PTE_XD;
		if (rnd() % 16 == 0)
			e |= 1ull << (36 + rnd() % 27);         /* reserved above MAXPHYADDR */
	} else if (rnd() % 16 == 0) {
		e |= 1u << (13 + rnd() % 9);                    /* 4 MiB PDE reserved bits */
	}
	return e;
}

START_TEST(walk_fetch_agrees)
{
	enum { NPAGES = 16 };
	static uint8_t ram[NPAGES * 4096] __attribute__((aligned(4096)));
	uint8_t wp[NPAGES] = { 0 };
	struct guest_mem mem = { .ram = ram, .size = sizeof(ram), .fd = -1, .wp = wp,
				 .written = count_written };
	uint32_t checked = 0, ok = 0;
	for (int round = 0; round < 400; round++) {
		int mode = round % 4;                   /* 32-bit, +PSE, PAE, PAE+NXE */
		bool pae = mode >= 2;
		for (uint32_t k = 0; k < sizeof(ram); k += pae ? 8 : 4) {
			uint64_t e = rnd_entry(pae, NPAGES);
			memcpy(ram + k, &e, pae ? 8 : 4);
		}
		struct cpu c = { .cr0 = CR0_PE | CR0_PG, .cr3 = (rnd() % NPAGES) << 12 };
		if (mode == 1)
			c.cr4 = CR4_PSE;
		if (pae) {
			c.cr4 = CR4_PAE;
			c.efer = mode == 3 ? EFER_NXE : 0;
			for (int i = 0; i < 4; i++)
				c.pdpte[i] = (uint64_t)(rnd() % NPAGES) << 12 | (rnd() % 4 ? PTE_P : 0);
		}
		for (int i = 0; i < 256; i++) {
			uint32_t lin = rnd();
			for (int user = 0; user < 2; user++) {
				struct walk w;
				uint64_t pa = 0;
				uint32_t r = walk_peek(&c, &mem, lin,
						       PF_ACC_FETCH | (user ? PF_ACC_USER : 0), &w);
				struct walk_entries e;
				bool got = walk_fetch(&c, &mem, lin, user, &pa, &e);
				ck_assert_msg(got == (r == 0), "mode %d lin %#x user %d: walk %#x fetch %d",
					      mode, lin, user, r, got);
				/* Where the entries read lie (what tracing watches):
				 * the walk's, and a failed one's as far as it went. */
				if (!pae) {
					uint64_t pde_pa = (c.cr3 & ~0xfffu) + (lin >> 22) * 4;
					ck_assert_uint_eq(e.pde_pa, pde_pa);
					uint32_t pde;
					memcpy(&pde, ram + pde_pa, 4);
					if (!(pde & PTE_P))
						ck_assert_uint_eq(e.pte_pa, WALK_NO_ENTRY);
					else if (!((c.cr4 & CR4_PSE) && (pde & PTE_PS)))
						ck_assert_uint_eq(e.pte_pa, (pde & ~0xfffu) +
								  ((lin >> 12) & 0x3ff) * 4);
				} else if (!(c.pdpte[lin >> 30] & PTE_P)) {
					ck_assert_uint_eq(e.pde_pa, WALK_NO_ENTRY);
				}
				if (got) {
					ck_assert_uint_eq(pa, w.pa);
					ck_assert_uint_eq(e.size, w.size);
					ck_assert_uint_eq(e.pde_pa, w.pde_pa);
					ck_assert_uint_eq(e.pte_pa, w.pte_pa);
					ck_assert(!(e.final & PTE_A) == !w.accessed);
					ck_assert(!(e.final & PTE_D) == !w.dirty);
				}
				checked++;
				ok += got;
			}
		}
	}
	ck_assert_uint_eq(code_writes, 0);
	/* Both outcomes were seen often enough to mean something. */
	ck_assert_uint_gt(ok, checked / 50);
	ck_assert_uint_lt(ok, checked - checked / 20);
}
END_TEST

static void no_setup(void) {}
static void no_teardown(void) {}

static Suite *walk_suite(void)
{
	Suite *s = suite_create("walk");
	struct { const char *name; void (*setup)(void); const TTest *t[8]; } groups[] = {
		{ "translate", setup, { identity_4k, higher_half, pse_4m_page, ps_ignored_without_pse,
					paging_off_is_identity } },
		{ "faults", setup, { pde_not_present, pte_not_present, user_needs_us_at_both_levels,
				     user_write_needs_rw_at_both_levels, supervisor_write_and_cr0_wp,
				     rsvd_in_4m_pde } },
		{ "accessed", setup, { accessed_after_success_only, dirty_on_write_final_entry,
				       peek_changes_nothing, global_bit } },
		{ "edges", setup, { tables_at_top_of_ram, tables_outside_ram,
				    ad_write_invalidates_code } },
		{ "pae", pae_setup, { pae_4k, pae_2m_page, pae_rights, pae_reserved_bits,
				      pae_pdpte_load, pae_peek_and_ad } },
		{ "nx", pae_setup, { pae_nx, pae_nx_off, pae_nx_translate } },
		{ "alone", no_setup, { walk_without_vm, walk_fetch_agrees } },
	};
	size_t ngroups = sizeof(groups) / sizeof(groups[0]);
	for (size_t g = 0; g < ngroups; g++) {
		TCase *tc = tcase_create(groups[g].name);
		tcase_add_checked_fixture(tc, groups[g].setup,
					  groups[g].setup == no_setup ? no_teardown : teardown);
		tcase_set_timeout(tc, 30);
		for (int i = 0; i < 8 && groups[g].t[i]; i++)
			tcase_add_test(tc, groups[g].t[i]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(walk_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
