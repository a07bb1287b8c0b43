/*
 * mtlb_large.c - INVLPG of one address of a 4 MiB page invalidates the whole translation
 * (SDM Vol. 3, 4.10.4.1). A monitor access (SIDT's store, emulated) at another 4 KiB
 * page of it, made before the PDE moved, must not reach the old frame afterwards
 * (shadowmmu/mmu.c, the monitor's TLB: failed while INVLPG dropped only one entry).
 * And a 4 MiB page whose PDE moves to another frame with no INVLPG is seen there after
 * a flush, by a CR3 reload or a switch to another directory and back: the host keeps
 * pieces of large pages mapped across flushes while their PDE stays as it was.
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

	volatile uint32_t *fa = (volatile uint32_t *)PG_FRAME_A, *fb = (volatile uint32_t *)PG_FRAME_B;
	fa[0x1000 / 4] = 0xaaaa0001;
	fb[0x1000 / 4] = 0xbbbb0001;
	pg_map_4m(pd, L, PG_FRAME_A, PG_P | PG_W);
	invlpg(L);
	check_eq("large-read-frame-a", pg_rd(L + 0x1000), 0xaaaa0001);
	pg_map_4m(pd, L, PG_FRAME_B, PG_P | PG_W);     /* no INVLPG */
	pg_flush();
	check_eq("large-moved-cr3-reload-reads-frame-b", pg_rd(L + 0x1000), 0xbbbb0001);
	/* Moved while another directory is current. */
	pte_t *pd2 = pg_dir();
	pg_share_identity(pd2, pd);
	pg_map_4m(pd2, L, PG_FRAME_B, PG_P | PG_W);
	check_eq("large-read-frame-b-again", pg_rd(L + 0x1000), 0xbbbb0001);
	write_cr3((uint32_t)pd2);
	check_eq("large-other-directory", pg_rd(L + 0x1000), 0xbbbb0001);
	pg_map_4m(pd, L, PG_FRAME_A, PG_P | PG_W);
	write_cr3((uint32_t)pd);
	check_eq("large-moved-while-away-reads-frame-a", pg_rd(L + 0x1000), 0xaaaa0001);
	pg_off();
}
