/*
 * paging_cow.c - a write to a page mapped read-only, which the #PF handler makes
 * writable and dirty without an INVLPG, as Linux does when it reuses a copy-on-write
 * page a process now owns alone (the SDM needs no invalidation for R/W going from 0 to
 * 1: at worst a spurious fault, 4.10.4.3). The write is then retried and must land, and
 * each round must take one #PF: the page was read first, so a translator that maps it
 * for the read holds it read-only when the write comes.
 *
 * Rounds: the page read-only (A set, D clear), read, INVLPG; a write faults, the
 * handler sets R/W and D (and, every other round, points the entry at the other of two
 * frames, as a copy would, instead of reusing the page); the written value is read back through the page and
 * through the frame. paging_cow-stats wants the retried writes to take no host fault.
 */
#include "guest.h"
#include "paging.h"

#define COW_LIN 0x50000000u
#define ROUNDS  200

static pte_t *kpd;
static uint8_t *frame[2];
static int cur;                 /* the frame the entry maps */
static int faults, bad_fault;

static int cow_fixup(uint32_t cr2, uint32_t err, struct frame *f)
{
	(void)f;
	if ((cr2 & ~0xfffu) != COW_LIN || (err & (PF_P | PF_W)) != (PF_P | PF_W)) {
		bad_fault = 1;
		return 0;
	}
	if (faults & 1)
		cur ^= 1;               /* a copy: the other frame; else the page reused */
	*pg_pte(kpd, COW_LIN) = (uint32_t)frame[cur] | PG_P | PG_W | PG_A | PG_D;
	faults++;
	return 1;
}

void test_main(void)
{
	guest_init();
	pg_init();
	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W);
	frame[0] = pg_alloc();
	frame[1] = pg_alloc();
	pg_on(kpd);
	pg_set_wp(1);                   /* the supervisor's writes obey R/W */
	pf_fixup = cow_fixup;
	int ok = 1, same = 1;
	for (uint32_t i = 0; i < ROUNDS; i++) {
		*pg_pte(kpd, COW_LIN) = (uint32_t)frame[cur] | PG_P | PG_A;
		invlpg(COW_LIN);
		(void)pg_rd(COW_LIN + 0x10);            /* mapped for a read first */
		int before = faults;
		pg_wr(COW_LIN + 0x10, 0x5eed0000 + i);
		ok &= faults == before + 1;
		uint32_t now = *pg_pte(kpd, COW_LIN) & PG_FRAME;
		same &= pg_rd(COW_LIN + 0x10) == 0x5eed0000 + i &&
			*(volatile uint32_t *)(now + 0x10) == 0x5eed0000 + i;
	}
	pf_fixup = 0;
	check(!bad_fault, "cow-only-write-faults");
	check(ok, "cow-one-fault-per-write");
	check(same, "cow-write-lands");
	check_eq("cow-faults", faults, ROUNDS);
	pg_set_wp(0);
	pg_off();
}
