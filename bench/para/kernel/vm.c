/*
 * vm.c - address spaces: one 2-level page directory per process. The kernel part
 * is the same in all: RAM at KERNBASE, supervisor-only, in 4 MiB pages, and the
 * machine pages the HAL names; and one shared page table mapping the image's .user
 * section (the user programs) user-accessible read-only at its link address. The
 * user part, from USER_HEAP to KERNBASE, is private: a heap and a stack paged in
 * on demand by vm_fault(). Nothing supervisor lies below a user page (trapeze runs
 * a ring-3 access above the lowest supervisor page slowly, in its emulator). The
 * shared part is global, so that an address-space switch keeps its translations.
 *
 * Interface: kvm_init() once; vm_create()/vm_free() per process. Changes to a live
 * page table go through hal_pte_set()/hal_pte_batch(), with the linear address when
 * the table is the current one, so that the HAL can drop that translation.
 */
#include "defs.h"

extern char __user_start[], __user_end[], __user_lma[];

static uint32_t kpd[1024] __attribute__((aligned(4096)));       /* the kernel part */
static uint32_t kpt_user[1024] __attribute__((aligned(4096)));  /* the .user section */
static uint32_t kptm[4][1024] __attribute__((aligned(4096)));   /* machine pages */
static int nkptm;

void kvm_init(uint32_t phys_top)
{
	uint32_t pa[8], ut = (uint32_t)__user_start;
	if ((ut & 0x3fffff) + (uint32_t)(__user_end - __user_start) > 0x400000)
		panic("the .user section crosses 4 MiB");
	for (uint32_t a = ut; a < (uint32_t)__user_end; a += PGSIZE)
		kpt_user[a >> 12 & 0x3ff] = ((uint32_t)__user_lma + a - ut) | PTE_P | PTE_U | PTE_G;
	kpd[ut >> 22] = V2P(kpt_user) | PTE_P | PTE_W | PTE_U;  /* the PTEs decide */
	for (uint32_t a = 0; a < phys_top; a += 0x400000)
		kpd[(KERNBASE + a) >> 22] = a | PTE_PS | PTE_P | PTE_W | PTE_G;
	int n = hal_machine_pages(pa, 8);
	for (int i = 0; i < n; i++) {
		uint32_t *pde = &kpd[(KERNBASE + pa[i]) >> 22];
		if (pa[i] >= 0x40000000u)
			panic("machine page %x beyond the kernel's 1 GiB", pa[i]);
		if (*pde & PTE_PS)
			continue;               /* already in the kernel's map */
		if (!(*pde & PTE_P)) {
			if (nkptm == 4)
				panic("too many machine page tables");
			*pde = V2P(kptm[nkptm++]) | PTE_P | PTE_W;
		}
		uint32_t *pt = P2V(*pde & ~0xfffu);
		pt[pa[i] >> 12 & 0x3ff] = (pa[i] & ~0xfffu) | PTE_P | PTE_W | PTE_G;
	}
}

uint32_t vm_create(void)
{
	uint32_t *pd = kalloc();
	if (!pd)
		return 0;
	memcpy(pd, kpd, sizeof(kpd));
	return V2P(pd);
}

void vm_free(uint32_t pd)
{
	uint32_t *dir = P2V(pd);
	for (uint32_t i = USER_HEAP >> 22; i < KERNBASE >> 22; i++) {
		if (!(dir[i] & PTE_P))
			continue;
		uint32_t *pt = P2V(dir[i] & ~0xfffu);
		for (int j = 0; j < 1024; j++)
			if (pt[j] & PTE_P)
				kfree(P2V(pt[j] & ~0xfffu));
		kfree(pt);
	}
	kfree(dir);
}

/* The PTE of va in pd; with alloc, a missing page table is made (0 if out of memory). */
uint32_t *vm_pte(uint32_t pd, uint32_t va, int alloc)
{
	uint32_t *pde = (uint32_t *)P2V(pd) + (va >> 22);
	if (!(*pde & PTE_P)) {
		uint32_t *pt;
		if (!alloc || !(pt = kalloc()))
			return 0;
		struct pte_update u = { V2P(pde), V2P(pt) | PTE_P | PTE_W | PTE_U, HAL_NO_LIN };
		hal_pte_set(&u);
	}
	return (uint32_t *)P2V(*pde & ~0xfffu) + (va >> 12 & 0x3ff);
}

static int in_user_data(struct proc *p, uint32_t va)
{
	return (va >= USER_HEAP && va < p->brk) ||
	       (va >= USTACK_TOP - USTACK_MAX && va < USTACK_TOP);
}

/* Demand paging: maps a fresh page at va if it lies in the heap or the stack and
 * is not mapped yet. 0, or -1 (a protection fault or a bad address: the caller
 * kills the process). */
int vm_fault(uint32_t va, int write)
{
	struct proc *p = curproc;
	(void)write;
	if (!in_user_data(p, va))
		return -1;
	uint32_t *pte = vm_pte(p->pd, va, 1);
	if (!pte || (*pte & PTE_P))
		return -1;
	void *page = kalloc();
	if (!page)
		return -1;
	/* A and D already set: the page is about to be used, and written (a VMM that maps
	 * it then need not wait for the write's own fault to make it writable). */
	struct pte_update u = { V2P(pte), V2P(page) | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D,
				va & ~0xfffu };
	hal_pte_set(&u);
	return 0;
}

/* Makes the heap or stack page at va writable or read-only (paging it in first). */
int vm_protect(uint32_t va, int writable)
{
	struct proc *p = curproc;
	if (!in_user_data(p, va))
		return -1;
	uint32_t *pte = vm_pte(p->pd, va, 0);
	if ((!pte || !(*pte & PTE_P)) && vm_fault(va, 0) < 0)
		return -1;
	pte = vm_pte(p->pd, va, 0);
	struct pte_update u = { V2P(pte), (*pte & ~PTE_W) | (writable ? PTE_W : 0), va & ~0xfffu };
	hal_pte_set(&u);
	return 0;
}

/* Maps the unmapped heap pages of [va, va + npages pages) now, a batch per table. */
int vm_populate(uint32_t va, uint32_t npages)
{
	struct proc *p = curproc;
	struct pte_update batch[64];
	int n = 0;
	va &= ~0xfffu;
	for (uint32_t i = 0; i < npages; i++, va += PGSIZE) {
		if (va < USER_HEAP || va >= p->brk)
			return -1;
		uint32_t *pte = vm_pte(p->pd, va, 1);
		if (!pte)
			return -1;
		if (*pte & PTE_P)
			continue;
		void *page = kalloc();
		if (!page)
			return -1;
		batch[n++] = (struct pte_update){ V2P(pte),
						  V2P(page) | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D, va };
		if (n == 64 || (va >> 22) != ((va + PGSIZE) >> 22)) {
			hal_pte_batch(batch, n);        /* before the next table is made */
			n = 0;
		}
	}
	if (n)
		hal_pte_batch(batch, n);
	return 0;
}

/* May the kernel read (write) [va, va + len) of the current process? Pages the
 * process may have are paged in, so that the kernel itself never faults. */
int vm_user_ok(uint32_t va, uint32_t len, int write)
{
	struct proc *p = curproc;
	if (va + len < va)
		return 0;
	for (uint32_t a = va & ~0xfffu; a < va + len; a += PGSIZE) {
		if (!write && a >= (uint32_t)__user_start && a < (uint32_t)__user_end)
			continue;
		if (!in_user_data(p, a))
			return 0;
		uint32_t *pte = vm_pte(p->pd, a, 0);
		if (!pte || !(*pte & PTE_P)) {
			if (vm_fault(a, write) < 0)
				return 0;
			pte = vm_pte(p->pd, a, 0);
		}
		if (write && !(*pte & PTE_W))
			return 0;
	}
	return 1;
}
