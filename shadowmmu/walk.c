/*
 * walk.c - the guest page-table walker for 32-bit paging (see walk.h).
 *
 * The tables are read through the physmap (mem_phys) and the A/D bits written with
 * mem_write_phys(), the path of every monitor write to guest memory, so a page table
 * that shares a page with translated code still invalidates that code. Nothing here
 * is cached: the shadow MMU owns what it maps and drops it on CR3 loads and INVLPG.
 */
#include "walk.h"

#include <assert.h>
#include <string.h>

#include "mem.h"
#include "../monitor/vm.h"

/* A paging-structure entry at guest physical pa. An entry outside RAM reads as 0,
 * i.e. not present: the guest gets a #PF it can act on, where all ones (what a bus
 * read of nothing returns on a PC) would be a present entry with every right and
 * a made-up frame. */
static uint32_t entry_read(struct vm *vm, uint32_t pa)
{
	uint32_t v = 0;
	const void *p = mem_phys(vm, pa, 4);
	if (p)
		memcpy(&v, p, 4);
	return v;
}

/* Set bits in the entry at pa if they are not all set yet. The entry is read again
 * rather than taken from the walk so that a PTE that is also the PDE (a page
 * directory mapping itself) keeps both updates. Single vCPU: no locked cmpxchg. */
static void entry_set(struct vm *vm, uint32_t pa, uint32_t bits)
{
	uint32_t v = entry_read(vm, pa);
	if ((v & bits) == bits)
		return;
	v |= bits;
	bool ok = mem_write_phys(vm, pa, &v, 4);
	assert(ok);     /* entry_read() found it present, hence in RAM */
	(void)ok;
}

/* Is access acc allowed where the entries used have AND-ed R/W and U/S bits rights
 * (SDM Vol. 3, 4.6.1)? No SMEP/SMAP: supervisor reads and fetches may touch user
 * pages; a supervisor write to a read-only page is allowed unless CR0.WP = 1. */
static bool access_ok(uint32_t rights, unsigned acc, uint32_t cr0)
{
	if (acc & PF_ACC_USER) {
		if (!(rights & PTE_US))
			return false;
		return !(acc & PF_ACC_WRITE) || (rights & PTE_RW);
	}
	return !(acc & PF_ACC_WRITE) || (rights & PTE_RW) || !(cr0 & CR0_WP);
}

static bool writable(uint32_t rights, unsigned acc, uint32_t cr0)
{
	return access_ok(rights, (acc & PF_ACC_USER) | PF_ACC_WRITE, cr0);
}

static uint32_t walk_common(struct vm *vm, uint32_t lin, unsigned acc, struct walk *w,
			    bool set_ad)
{
	const struct cpu *c = &vm->cpu;
	/* Error-code bits the access contributes; I/D is reported only with SMEP or NX
	 * (SDM Vol. 3, 4.7), neither of which the guest can enable. */
	uint32_t err = acc & (PF_ERR_W | PF_ERR_U);

	if (!(c->cr0 & CR0_PG)) {
		*w = (struct walk){
			.pa = lin, .page = lin & ~0xfffu, .size = 4096, .writable = true,
			.user = true, .dirty = true, .pde_pa = 0xffffffff, .pte_pa = 0xffffffff,
		};
		return 0;
	}

	uint32_t pde_pa = (c->cr3 & ~0xfffu) + (lin >> 22) * 4;
	uint32_t pde = entry_read(vm, pde_pa);
	if (!(pde & PTE_P))
		return PF_FAULT | err;

	uint32_t pte_pa, final, page, size;
	if ((c->cr4 & CR4_PSE) && (pde & PTE_PS)) {
		/* A 4 MiB page (SDM Vol. 3, Table 4-4). Without PSE-36, bits 21:13 would be
		 * physical-address bits 39:32, above MAXPHYADDR = 32: reserved. */
		if (pde & PDE_4M_RSVD)
			return PF_FAULT | err | PF_ERR_P | PF_ERR_RSVD;
		pte_pa = pde_pa;
		final = pde;
		page = pde & 0xffc00000u;
		size = WALK_4M;
	} else {
		/* With CR4.PSE = 0, PDE bit 7 is ignored (SDM Vol. 3, 4.3). */
		pte_pa = (pde & ~0xfffu) + ((lin >> 12) & 0x3ff) * 4;
		final = entry_read(vm, pte_pa);
		if (!(final & PTE_P))
			return PF_FAULT | err;
		page = final & ~0xfffu;
		size = 4096;
	}

	uint32_t rights = pde & final;  /* for a 4 MiB page, the PDE alone */
	if (!access_ok(rights, acc, c->cr0))
		return PF_FAULT | err | PF_ERR_P;

	/* A on every entry used, D on the final one for a write (SDM Vol. 3, 4.8), and
	 * only once the translation succeeds. A real CPU may set PDE.A though the PTE
	 * then faults (it has used the PDE); we choose that a fault changes nothing in
	 * guest memory. An OS uses A only as a hint, and only for present pages. */
	bool write = acc & PF_ACC_WRITE;
	if (set_ad) {
		if (pte_pa != pde_pa)
			entry_set(vm, pde_pa, PTE_A);
		entry_set(vm, pte_pa, PTE_A | (write ? PTE_D : 0));
	}

	*w = (struct walk){
		.pa = page | (lin & (size - 1)),
		.page = page,
		.size = size,
		.writable = writable(rights, acc, c->cr0),
		.user = rights & PTE_US,
		.global = final & PTE_G,
		.dirty = (final & PTE_D) || (set_ad && write),
		.pde_pa = pde_pa,
		.pte_pa = pte_pa,
	};
	return 0;
}

uint32_t walk(struct vm *vm, uint32_t lin, unsigned acc, struct walk *w)
{
	return walk_common(vm, lin, acc, w, true);
}

uint32_t walk_peek(struct vm *vm, uint32_t lin, unsigned acc, struct walk *w)
{
	return walk_common(vm, lin, acc, w, false);
}
