/*
 * pop_sreg_dword.c - POP DS at CPL 0 reads 4 bytes (32-bit operand size): with the upper
 * two on a page that is not present, #PF with CR2 on that page, also when the POP
 * reloads the selector DS holds (rewriter/mangle_state.c, emit_sreg_load: failed while the inline
 * reload read 2 bytes).
 */
#include "guest.h"
#include "paging.h"
#define P 0x00500000u
uint32_t saved_esp;
void pop_ds_at(uint32_t esp);
__asm__(".text\n.globl pop_ds_at\npop_ds_at:\n\t"
	"movl 4(%esp), %eax\n\tmovl %esp, saved_esp\n\tmovl %eax, %esp\n\t"
	"popl %ds\n\tmovl saved_esp, %esp\n\tret\n");
void test_main(void)
{
	guest_init();
	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W);
	*pg_pte(pd, P + PAGE) = 0;
	pg_on(pd);
	*(volatile uint32_t *)(P + 0xffc) = 0x0010;
	for (volatile int k = 0; k < 3; k++) {
		int v = EXC(pop_ds_at(P + 0xffc));
		check_eq(k ? "pop-ds-in-page-again" : "pop-ds-in-page", (uint32_t)v, (uint32_t)-1);
	}
	*(volatile uint16_t *)(P + 0xffe) = 0x0010;
	for (volatile int k = 0; k < 3; k++) {
		write_cr2(0);
		int v = EXC(pop_ds_at(P + 0xffe));
		check_eq(k ? "pop-ds-straddle-pf-again" : "pop-ds-straddle-pf", (uint32_t)v, 14);
		check_eq("pop-ds-straddle-cr2", read_cr2(), P + PAGE);
	}
	pg_off();
}
