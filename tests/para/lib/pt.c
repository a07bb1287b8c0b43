/*
 * pt.c - 2-level page tables for para guests, written with plain stores before
 * set_pt (or before a tlb_flush), from a static pool; linear = physical for the
 * guest's own memory, so a table's address is its physical address.
 */
#include "pguest.h"

#define NPT 8
uint32_t pt_pd[1024] __attribute__((aligned(4096)));
static uint32_t pool[NPT][1024] __attribute__((aligned(4096)));
static int used;

uint32_t *pt_pte(uint32_t lin, int alloc)
{
	uint32_t *pde = &pt_pd[lin >> 22];
	if (!(*pde & PTE_P) || (*pde & PTE_PS)) {
		if (!alloc)
			return 0;
		if (used == NPT) {
			printf("FAIL pt-pool out of page tables\n");
			guest_finish();
		}
		uint32_t *t = pool[used++];
		memset(t, 0, 4096);
		*pde = (uint32_t)t | PTE_P | PTE_W;
	}
	return (uint32_t *)(*pde & ~0xfffu) + (lin >> 12 & 0x3ff);
}

void pt_map(uint32_t lin, uint32_t phys, uint32_t flags)
{
	*pt_pte(lin, 1) = (phys & ~0xfffu) | flags;
}

void pt_identity(void)
{
	if ((uint32_t)__end > 0x400000) {
		printf("FAIL pt-identity image ends at %08x, past 4 MiB\n", (uint32_t)__end);
		guest_finish();
	}
	for (uint32_t a = 0x1000; a < 0x400000; a += 0x1000)
		pt_map(a, a, PTE_P | PTE_W);
	pt_map(start->shared_page, start->shared_page, PTE_P | PTE_W);
	/* The monitor refuses the start-info page writable (section 4, mmu_update). */
	pt_map(start->start_info, start->start_info, PTE_P);
}
