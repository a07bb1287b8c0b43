/*
 * ic_refill_limit.c - an inline cache whose count of table lookups runs out on a RET to
 * a target past the CS limit (#GP at the RET) must count again: two callers fill a
 * RET's inline cache in a code segment with a limit, then 200 RETs to 0x300000 (past
 * the limit) take the table - the count (128) runs out among them - then a third
 * caller runs 2000 times. Its RETs must still get a refill: expect-stat.sh wants one
 * counted (before the fix the count stayed at zero, wrapped, and no refill came).
 * QEMU does not check near branches against the CS limit: the RETs past it are
 * trapeze's alone (SKIP under QEMU).
 */
#include "guest.h"

#define S_LIM   3       /* 0x18: code, base 0, limit 2 MiB - 1 */
#define NPAST   200

#define IN_LIMITED_CS(body) \
	"ljmp $0x18, $1f\n1:\t" body "\n\tljmp $0x08, $2f\n2:"

__asm__(".text\n"
	"fn_g:\n\t"
	"addl $1, %edx\n\t"
	"ret\n");

void test_main(void)
{
	guest_init();
	gdt_set(S_LIM, 0, 0x1ff, ACC_CODE, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	idt_init();
	uint32_t sum = 0;
	__asm__ volatile(IN_LIMITED_CS("xorl %%edx, %%edx\n\tcall fn_g\n\tcall fn_g")
			 : "=&d"(sum) :: "memory", "cc");
	check_eq("ic-limit-two-callers", sum, 2);
	if (under_qemu()) {
		printf("SKIP ic-limit-ret-past-limit-gp "
		       "qemu-does-not-check-near-branches-against-the-cs-limit\n");
	} else {
		volatile int gp = 0;    /* (EXC returns through longjmp) */
		for (volatile int i = 0; i < NPAST; i++)
			gp += EXC(__asm__ volatile(IN_LIMITED_CS("pushl $0x300000\n\tjmp fn_g")
						   ::: "edx", "memory", "cc")) == 13; /* #GP */
		check_eq("ic-limit-ret-past-limit-gp", (uint32_t)gp, NPAST);
	}
	__asm__ volatile(IN_LIMITED_CS("xorl %%edx, %%edx\n\tmovl $2000, %%ecx\n"
				       "3:\tcall fn_g\n\tloop 3b")
			 : "=&d"(sum) :: "ecx", "memory", "cc");
	check_eq("ic-limit-third-caller", sum, 2000);
}
