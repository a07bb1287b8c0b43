/*
 * site_stale_user.c - a learnt site (rewriter/sites.h) must not outlive the instruction
 * it was learnt for. "Process A" (CR3 = pd_a) at CPL 3 loads from linear 0xfe800000 (the
 * top 8 MiB, not mapped: #PF) at linear 0x40000000, which trapeze learns as a site to
 * emulate. "Process B" (CR3 = pd_b) maps another frame at 0x40000000 whose first
 * instruction is a NOP: it must simply run (it once stopped the whole VM: the site's
 * callout found an instruction there that needs no emulation).
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define CODE_LIN 0x40000000u
#define FRAME_A  PG_FRAME_A
#define FRAME_B  (PG_FRAME_A + 0x1000)

static const uint8_t code_a[] = { 0xa1, 0x00, 0x00, 0x80, 0xfe, 0xc3 };       /* mov eax,[0xfe800000]; ret */
static const uint8_t code_b[] = { 0x90, 0xb8, 0x34, 0x12, 0x00, 0x00, 0xc3 }; /* nop; mov eax,0x1234; ret */

void test_main(void)
{
	guest_init();
	ring_init();
	pg_init();
	memcpy((void *)FRAME_A, code_a, sizeof(code_a));
	memcpy((void *)FRAME_B, code_b, sizeof(code_b));
	pte_t *pd_a = pg_dir();
	pg_identity(pd_a, PG_P | PG_W | PG_U);
	pg_map(pd_a, CODE_LIN, FRAME_A, PG_P | PG_W | PG_U);
	pte_t *pd_b = pg_dir();
	pg_share_identity(pd_b, pd_a);
	pg_map(pd_b, CODE_LIN, FRAME_B, PG_P | PG_W | PG_U);

	pg_on(pd_a);
	pf_reset();
	int v = EXC(user_run(CODE_LIN, 0, 0x202));
	check_eq("procA-user-load-of-top-is-pf", (uint32_t)v, 14);
	check_eq("procA-pf-cr2", pf.cr2, 0xfe800000u);

	write_cr3((uint32_t)pd_b);              /* another process, same linear EIP */
	printf("INFO running process B (a NOP at the same linear EIP)\n");
	user_expect_ret("procB-nop-at-learnt-eip-runs", (void *)CODE_LIN, 0, 0x202, 0x1234);
	pg_off();
	guest_finish();
}
