/* stale_cpl.c - CPL 3 -> 0 -> 3 through kernel code that is all callouts (no block is
 * entered at CPL 0): the data segment reloaded at CPL 0 must still not reach
 * supervisor pages from CPL 3 (its shadow was made for CPL 0, without the cut under
 * the supervisor's pages). */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define SUP 0x10000000u
uint32_t ksecret[1024] __attribute__((aligned(4096)));
uint16_t kds = 0x23;
extern char h82[], u_stale[], u_stale_at[];
__asm__(".text\n"
	".globl h82\nh82:\n\t"
	"movw %cs:kds, %ds\n\t"
	"iret\n"
	".globl u_stale\nu_stale:\n\t"
	"movl $1, %eax\n\t" "int $0x82\n"
	".globl u_stale_at\nu_stale_at:\n\t"
	"movl 0x10000000, %eax\n\t"
	"ret\n");

void test_main(void)
{
	guest_init();
	ring_init();
	pg_init();
	idt_set(0x82, (uint32_t)h82, SEL_CODE, 0xee);
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	pg_map(pd, SUP, (uint32_t)ksecret, PG_P | PG_W);
	ksecret[0] = 0x5ec2e7;
	pg_on(pd);
	check_eq("kernel-reads-sup", pg_rd(SUP), 0x5ec2e7);
	volatile uint32_t got = 0;
	pf_reset();
	int v = EXC(got = user_run((uint32_t)u_stale, 0, 0x2));
	if (v != 14)
		fail("user-read-of-sup-after-cpl0-ds-reload", "exception %d, read %08x", v, got);
	else
		pass("user-read-of-sup-after-cpl0-ds-reload");
	pg_off();
}
