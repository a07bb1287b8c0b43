/*
 * far_call_fault.c - a far CALL whose target faults (#GP for a data segment, #NP for a
 * code segment not present) leaves the stack's memory as it was: the CPU checks the new
 * CS before it pushes CS:EIP (SDM Vol. 2, CALL). trapeze had pushed first (the right
 * exception, but CS:EIP written below ESP). The CALL runs at CPL 3, so the exception's
 * own frame goes on the ring-0 stack and the ring-3 stack can be looked at.
 */
#include "ring.h"

#define S_DATA3  RING_FREE      /* 0x3b: a DPL-3 data segment */
#define S_NOTP3  (RING_FREE + 1) /* 0x43: DPL-3 code, not present */

struct { uint32_t off; uint16_t sel; } __attribute__((packed)) far_target;

/* Sentinels in the two words below ESP, then the far CALL. */
USER_INSN(farcall, "movl $0x5a5a1111, -4(%esp)\n\tmovl $0x5a5a2222, -8(%esp)",
	  "lcall *far_target");

static void check_call(const char *name, const char *untouched, uint16_t sel, int vec)
{
	far_target.off = 0;
	far_target.sel = sel;
	user_expect(name, u_farcall, 0x2, vec, sel & 0xfffc, u_farcall_at);
	uint32_t *below = (uint32_t *)(USER_TOP - 8);   /* ESP in the routine */
	check(below[-1] == 0x5a5a1111 && below[-2] == 0x5a5a2222, untouched);
}

void test_main(void)
{
	guest_init();
	idt_init();
	ring_init();
	gdt_set(S_DATA3, 0, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_NOTP3, 0, 0xfffff, 0x7b, GRAN_4K32);    /* DPL 3 code, P clear */
	check_call("far-call-data-gp", "far-call-data-stack-untouched", (S_DATA3 << 3) | 3, 13);
	check_call("far-call-not-present-np", "far-call-not-present-stack-untouched",
		   (S_NOTP3 << 3) | 3, 11);
}
