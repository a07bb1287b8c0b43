/*
 * ldt_pool.c - more distinct data segments than trapeze's host LDT pool holds (8189), so
 * the pool is reset and its entries rewritten while DS and ES still hold pool selectors
 * (monitor exits leave them loaded; entries reload them only when the selector changes).
 * Every read through DS and ES must see its own segment's base.
 */
#include "guest.h"

#define N 12000
static uint32_t buf[N + 16];

void test_main(void)
{
	guest_init();
	for (uint32_t k = 0; k < N + 16; k++)
		buf[k] = 0x0d000000u + k;
	uint32_t bad = 0, first_bad = 0;
	for (int round = 0; round < 2; round++)
		for (uint32_t k = 0; k < N; k++) {
			gdt_set(7, (uint32_t)&buf[k], 0xffff, ACC_DATA, GRAN_BYTE32);
			gdt_set(8, (uint32_t)&buf[k + 1], 0xffff, ACC_DATA, GRAN_BYTE32);
			uint32_t vd, ve;
			__asm__ volatile("push %%ds\n\t"
					 "movw %w2, %%ds\n\t"
					 "movw %w3, %%es\n\t"
					 "outb %%al, $0x80\n\t"          /* a monitor exit with DS/ES loaded */
					 "movl (%4), %0\n\t"
					 "movl %%es:(%4), %1\n\t"
					 "pop %%ds\n\t"
					 "push %%ds\n\t"
					 "pop %%es"
					 : "=&r"(vd), "=&r"(ve) : "r"(7 << 3), "r"(8 << 3), "r"(0) : "memory");
			if (vd != 0x0d000000u + k || ve != 0x0d000001u + k) {
				if (!bad)
					first_bad = k | (uint32_t)round << 31;
				bad++;
			}
		}
	if (bad)
		fail("ldt-pool-reset-ds-es", "%u bad reads, first at k=%x", bad, first_bad);
	else
		pass("ldt-pool-reset-ds-es");
	guest_finish();
}
