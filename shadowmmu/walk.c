/*
 * walk.c - the guest page-table walker for 32-bit and PAE paging (see walk.h).
 *
 * Reads the guest's paging registers from struct cpu and its tables through the
 * physmap (mem_phys); the A/D bits are written with mem_write_ad(), which reports
 * the write to translated code on the page (a page table that shares a page with
 * code) but leaves its tracing alone: A and D change no translation. Nothing here is
 * cached but the PDPTE registers, which the CPU itself keeps: the shadow MMU owns
 * what it maps and drops it on CR3 loads and INVLPG.
 */
#include "walk.h"

#include <string.h>

#include "mem.h"
#include "../arch/vcpu.h"

/* A paging-structure entry of size bytes (4 or 8) at guest physical pa. An entry
 * outside RAM reads as 0, i.e. not present: the guest gets a #PF it can act on, where
 * all ones (what a bus read of nothing returns on a PC) would be a present entry with
 * every right and a made-up frame. Entries are naturally aligned, so never cut by
 * the end of RAM. */
static uint64_t entry_read(const struct guest_mem *mem, uint64_t pa, unsigned size)
{
	uint64_t v = 0;
	const void *p = mem_phys(mem, pa, size);
	if (p)
		memcpy(&v, p, size);
	return v;
}

/* Set bits (in the low 32, where A and D are in both formats) in the entry at pa if
 * they are not all set yet. The entry is read again rather than taken from the walk
 * so that a PTE that is also the PDE (a page directory mapping itself) keeps both
 * updates. Single vCPU: no locked cmpxchg. */
static void entry_set(struct guest_mem *mem, uint64_t pa, uint32_t bits)
{
	uint32_t v = (uint32_t)entry_read(mem, pa, 4);
	if ((v & bits) == bits)
		return;
	v |= bits;
	mem_write_ad(mem, pa, v);
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

/* The entries a translation uses: a PDE and a PTE, or for a large page the PDE
 * twice. */
struct entries {
	uint64_t pde_pa, pte_pa;
	uint64_t pde, final;
	uint64_t page;
	uint32_t size;
};

/* 32-bit paging (SDM Vol. 3, 4.3): 0, or PF_FAULT with P and RSVD as found. */
static uint32_t lookup_32(const struct cpu *c, const struct guest_mem *mem, uint32_t lin,
			  struct entries *e)
{
	e->pde_pa = (c->cr3 & ~0xfffu) + (lin >> 22) * 4;
	e->pde = entry_read(mem, e->pde_pa, 4);
	if (!(e->pde & PTE_P))
		return PF_FAULT;
	if ((c->cr4 & CR4_PSE) && (e->pde & PTE_PS)) {
		/* A 4 MiB page (SDM Vol. 3, Table 4-4). Without PSE-36, bits 21:13 would be
		 * physical-address bits 39:32, above MAXPHYADDR = 32: reserved. */
		if (e->pde & PDE_4M_RSVD)
			return PF_FAULT | PF_ERR_P | PF_ERR_RSVD;
		e->pte_pa = e->pde_pa;
		e->final = e->pde;
		e->page = e->pde & 0xffc00000u;
		e->size = WALK_4M;
		return 0;
	}
	/* With CR4.PSE = 0, PDE bit 7 is ignored (SDM Vol. 3, 4.3). */
	e->pte_pa = (e->pde & 0xfffff000u) + ((lin >> 12) & 0x3ff) * 4;
	e->final = entry_read(mem, e->pte_pa, 4);
	if (!(e->final & PTE_P))
		return PF_FAULT;
	e->page = e->final & 0xfffff000u;
	e->size = 4096;
	return 0;
}

/* PAE paging (SDM Vol. 3, 4.4.2): PDPTE register, then a PDE (PS = 1: a 2 MiB page,
 * whatever CR4.PSE says) and a PTE, each 64 bits. Reserved bits are checked level by
 * level, in a present entry only (4.7). */
static uint32_t lookup_pae(const struct cpu *c, const struct guest_mem *mem, uint32_t lin,
			   struct entries *e)
{
	uint64_t rsvd = PAE_RSVD | ((c->efer & EFER_NXE) ? 0 : PTE_XD);
	uint64_t pdpte = c->pdpte[lin >> 30];
	if (!(pdpte & PTE_P))
		return PF_FAULT;
	/* Never so after walk_load_pdptes(), which refuses such a PDPTE (4.4.1). */
	if (pdpte & PDPTE_RSVD)
		return PF_FAULT | PF_ERR_P | PF_ERR_RSVD;
	e->pde_pa = (pdpte & PAE_ADDR) + ((lin >> 21) & 0x1ff) * 8;
	e->pde = entry_read(mem, e->pde_pa, 8);
	if (!(e->pde & PTE_P))
		return PF_FAULT;
	if (e->pde & rsvd)
		return PF_FAULT | PF_ERR_P | PF_ERR_RSVD;
	if (e->pde & PTE_PS) {
		/* A 2 MiB page (Table 4-9): bits 20:13 reserved, bit 12 is PAT. */
		if (e->pde & PDE_2M_RSVD)
			return PF_FAULT | PF_ERR_P | PF_ERR_RSVD;
		e->pte_pa = e->pde_pa;
		e->final = e->pde;
		e->page = e->pde & PAE_ADDR & ~(uint64_t)(WALK_2M - 1);
		e->size = WALK_2M;
		return 0;
	}
	e->pte_pa = (e->pde & PAE_ADDR) + ((lin >> 12) & 0x1ff) * 8;
	e->final = entry_read(mem, e->pte_pa, 8);
	if (!(e->final & PTE_P))
		return PF_FAULT;
	if (e->final & rsvd)
		return PF_FAULT | PF_ERR_P | PF_ERR_RSVD;
	e->page = e->final & PAE_ADDR;
	e->size = 4096;
	return 0;
}

static uint32_t walk_common(const struct cpu *c, struct guest_mem *mem, uint32_t lin,
			    unsigned acc, struct walk *w, bool set_ad)
{
	if (!(c->cr0 & CR0_PG)) {
		*w = (struct walk){
			.pa = lin, .page = lin & ~0xfffu, .size = 4096, .writable = true, .rw = true,
			.user = true, .dirty = true, .accessed = true, .dir_accessed = true,
			.pde_pa = 0xffffffff,
			.pte_pa = 0xffffffff,
		};
		return 0;
	}

	bool pae = c->cr4 & CR4_PAE;
	bool nxe = pae && (c->efer & EFER_NXE);
	/* Error-code bits the access contributes; I/D only under PAE with NXE (no SMEP),
	 * and then for every fault of a fetch, not only an XD one (SDM Vol. 3, 4.7). */
	uint32_t err = acc & (PF_ERR_W | PF_ERR_U);
	if (nxe && (acc & PF_ACC_FETCH))
		err |= PF_ERR_ID;

	struct entries e;
	uint32_t r = pae ? lookup_pae(c, mem, lin, &e) : lookup_32(c, mem, lin, &e);
	if (r)
		return r | err;

	uint32_t rights = (uint32_t)(e.pde & e.final);  /* for a large page, the PDE alone */
	if (!access_ok(rights, acc, c->cr0))
		return PF_FAULT | err | PF_ERR_P;
	/* XD at either level forbids fetches at every CPL (4.6.1); PDPTEs have no XD. */
	if (nxe && (acc & PF_ACC_FETCH) && ((e.pde | e.final) & PTE_XD))
		return PF_FAULT | err | PF_ERR_P;

	/* A on every entry used, D on the final one for a write (SDM Vol. 3, 4.8), and
	 * only once the translation succeeds. A real CPU may set PDE.A though the PTE
	 * then faults (it has used the PDE); we choose that a fault changes nothing in
	 * guest memory. An OS uses A only as a hint, and only for present pages. The
	 * PDPTE registers have no A bit. */
	bool write = acc & PF_ACC_WRITE;
	if (set_ad) {
		if (e.pte_pa != e.pde_pa)
			entry_set(mem, e.pde_pa, PTE_A);
		entry_set(mem, e.pte_pa, PTE_A | (write ? PTE_D : 0));
	}

	*w = (struct walk){
		.pa = e.page | (lin & (e.size - 1)),
		.page = e.page,
		.size = e.size,
		.writable = writable(rights, acc, c->cr0),
		.user = rights & PTE_US,
		.rw = rights & PTE_RW,
		.global = e.final & PTE_G,
		.dirty = (e.final & PTE_D) || (set_ad && write),
		.accessed = (e.final & PTE_A) || set_ad,
		.dir_accessed = e.pte_pa == e.pde_pa || (e.pde & PTE_A) || set_ad,
		.nx = nxe && ((e.pde | e.final) & PTE_XD),
		.pde_pa = e.pde_pa,
		.pte_pa = e.pte_pa,
	};
	return 0;
}

uint32_t walk(const struct cpu *c, struct guest_mem *mem, uint32_t lin, unsigned acc,
	      struct walk *w)
{
	return walk_common(c, mem, lin, acc, w, true);
}

uint32_t walk_peek(const struct cpu *c, struct guest_mem *mem, uint32_t lin, unsigned acc,
		   struct walk *w)
{
	return walk_common(c, mem, lin, acc, w, false);
}

bool walk_fetch(const struct cpu *c, const struct guest_mem *mem, uint32_t lin, bool user,
		uint64_t *pa, struct walk_entries *we)
{
	if (!(c->cr0 & CR0_PG)) {
		*pa = lin;
		*we = (struct walk_entries){ PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D,
					     PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D, 4096,
					     WALK_NO_ENTRY, WALK_NO_ENTRY };
		return true;
	}
	bool pae = c->cr4 & CR4_PAE;
	struct entries e = { .pde_pa = WALK_NO_ENTRY, .pte_pa = WALK_NO_ENTRY };
	bool found = !(pae ? lookup_pae(c, mem, lin, &e) : lookup_32(c, mem, lin, &e));
	we->pde_pa = e.pde_pa;
	we->pte_pa = e.pte_pa;
	if (!found)
		return false;
	/* access_ok() for a fetch: CPL 3 needs U/S at every level, CPL 0-2 nothing (no
	 * SMEP); and XD as walk_common checks it. */
	if (user && !((uint32_t)(e.pde & e.final) & PTE_US))
		return false;
	if (pae && (c->efer & EFER_NXE) && ((e.pde | e.final) & PTE_XD))
		return false;
	*pa = e.page | (lin & (e.size - 1));
	*we = (struct walk_entries){ e.pde, e.final, e.size, e.pde_pa, e.pte_pa };
	return true;
}

bool walk_load_pdptes(struct cpu *c, const struct guest_mem *mem, uint32_t cr3)
{
	uint64_t pdpte[4];
	for (int k = 0; k < 4; k++) {
		pdpte[k] = entry_read(mem, (cr3 & ~0x1fu) + 8u * k, 8);
		if ((pdpte[k] & PTE_P) && (pdpte[k] & PDPTE_RSVD))
			return false;
	}
	memcpy(c->pdpte, pdpte, sizeof(pdpte));
	return true;
}
