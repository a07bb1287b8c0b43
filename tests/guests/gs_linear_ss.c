/*
 * gs_linear_ss.c - gs: accesses below GS's base at CPL 3 with EBP as the address's base
 * (and a disp32 load into EBP), while SS has a non-zero base: a translator that runs
 * them through another segment must not let EBP pick SS (rewriter/mangle_state.c, emit_gs_linear:
 * failed before it gave the access a ds: prefix).
 */
#include "guest.h"
#include "ring.h"
#define S_UGS 7   /* 0x3b: DPL-3 data, base gs_buf+64, 4 GiB */
#define S_USS 8   /* 0x43: DPL-3 data, base 0x40, 4 GiB */
uint32_t gs_buf[32] __attribute__((aligned(64)));
USER_INSN(gs_ss_reg, "movw $0x3b,%ax; movw %ax,%gs; movl 4(%esp),%ebp; movw $0x43,%ax; movw %ax,%ss; nop\n\t",
	  "movl %gs:(%ebp), %eax\n\tmovw $0x23,%cx\n\tmovw %cx,%ss");
USER_INSN(gs_ss_disp, "movw $0x3b,%ax; movw %ax,%gs; movw $0x43,%ax; movw %ax,%ss; nop\n\t",
	  "movl %gs:0xfffffff8, %ebp\n\tmovl %ebp, %eax\n\tmovw $0x23,%cx\n\tmovw %cx,%ss");
void test_main(void)
{
	guest_init();
	ring_init();
	gdt_set(S_UGS, (uint32_t)&gs_buf[16], 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_USS, 0x40, 0xfffff, 0xf3, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	for (int i = 0; i < 32; i++)
		gs_buf[i] = 0x65000000u + (uint32_t)i;
	for (int k = 0; k < 3; k++)
		user_expect_ret(k ? "gs-ebp-base-ss-again" : "gs-ebp-base-ss", u_gs_ss_reg, (uint32_t)-8, 0x202, 0x6500000e);
	for (int k = 0; k < 3; k++)
		user_expect_ret(k ? "gs-disp-into-ebp-ss-again" : "gs-disp-into-ebp-ss", u_gs_ss_disp, 0, 0x202, 0x6500000e);
}
