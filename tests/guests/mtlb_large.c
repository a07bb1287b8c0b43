/*
 * mtlb_large.c - INVLPG of one address of a 4 MiB page invalidates the whole translation
 * (SDM Vol. 3, 4.10.4.1). A monitor access (SIDT's store, emulated) at another 4 KiB
 * page of it, made before the PDE moved, must not reach the old frame afterwards
 * (shadowmmu/mmu.c, the monitor's TLB: failed while INVLPG dropped only one entry).
 */
#include "guest.h"
#include "paging.h"
#define L 0x40000000u
static void do_sidt(uint32_t at) { __asm__ volatile("sidt (%0)" :: "r"(at) : "memory"); }
void test_main(void)
{
	guest_init();
	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W);
	pg_map_4m(pd, L, PG_FRAME_A, PG_P | PG_W);
	write_cr4(read_cr4() | CR4_PSE);
	pg_on(pd);
	struct dtr *a = (struct dtr *)(PG_FRAME_A + 0xf0000), *b = (struct dtr *)(PG_FRAME_B + 0xf0000);
	a->limit = 0; a->base = 0; b->limit = 0; b->base = 0;
	do_sidt(L + 0xf0000);
	check(a->limit != 0, "sidt-lands-in-frame-a");
	a->limit = 0; a->base = 0;
	pg_map_4m(pd, L, PG_FRAME_B, PG_P | PG_W);
	invlpg(L);                      /* the 4 MiB page's translation, named by its first byte */
	do_sidt(L + 0xf0000);
	check(b->limit != 0, "sidt-after-invlpg-lands-in-frame-b");
	check(a->limit == 0, "sidt-after-invlpg-not-in-frame-a");
	pg_off();
}
