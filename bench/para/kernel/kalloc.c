/*
 * kalloc.c - the physical page allocator: a free list threaded through the free
 * pages themselves (xv6's kalloc). Pages are handed out by their kernel address
 * (KERNBASE + physical: V2P gives what a page table wants).
 *
 * Interface: kinit(start, end) once; kalloc() gives a zeroed page or 0; kfree().
 */
#include "defs.h"

struct run { struct run *next; };
static struct run *freelist;
static uint32_t nfree;

void kinit(uint32_t start, uint32_t end)
{
	for (uint32_t a = PGROUND(start); a + PGSIZE <= end; a += PGSIZE)
		kfree((void *)a);
}

void kfree(void *page)
{
	struct run *r = page;
	if ((uint32_t)page % PGSIZE)
		panic("kfree %x", (uint32_t)page);
	r->next = freelist;
	freelist = r;
	nfree++;
}

void *kalloc(void)
{
	struct run *r = freelist;
	if (!r)
		return 0;
	freelist = r->next;
	nfree--;
	memset(r, 0, PGSIZE);
	return r;
}

uint32_t kfree_count(void)
{
	return nfree;
}
