/*
 * iret_ss16.c - IRET and far RET to an outer level whose SS is a 16-bit segment load
 * SP alone: ESP[31:16] keep the value they had before the return (SDM Vol. 2, IRET and
 * RET: "SP <- tempSP"; the reason Linux has espfix32). trapeze had cleared them: a
 * return to ESP 0x5aadc0de gave 0x0000c0de.
 */
#include "ring.h"

#define S_USS16  RING_FREE       /* 16-bit DPL-3 data, base user_stack, limit 0xffff */
#define SEL_USS16 ((RING_FREE << 3) | 3)

uint32_t kesp_at_return;

/* ss16_iret(esp): IRET to ring 3 with SS = SEL_USS16 and ESP = esp; ring 3 runs only
 * INT 0x81, which ends the run (ring_exit holds its SS and ESP). ss16_retf the same by
 * a far RET. The prologue is user_run's, for ring_exit_stub to return through. */
uint32_t ss16_iret(uint32_t esp);
uint32_t ss16_retf(uint32_t esp);
__asm__(".text\n"
	"ss16_iret:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\tpushfl\n\t"
	"movl %esp, ring_kernel_esp\n\t"
	"movl 24(%esp), %eax\n\t"
	"movl $0x23, %ecx\n\tmovl %ecx, %ds\n\tmovl %ecx, %es\n\t"
	"pushl $" "0x3b" "\n\tpushl %eax\n\tpushl $0x2\n\tpushl $0x1b\n\tpushl $ss16_user\n\t"
	"movl %esp, kesp_at_return\n\t"
	"iret\n"
	"ss16_retf:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\tpushfl\n\t"
	"movl %esp, ring_kernel_esp\n\t"
	"movl 24(%esp), %eax\n\t"
	"movl $0x23, %ecx\n\tmovl %ecx, %ds\n\tmovl %ecx, %es\n\t"
	"pushl $" "0x3b" "\n\tpushl %eax\n\tpushl $0x1b\n\tpushl $ss16_user\n\t"
	"movl %esp, kesp_at_return\n\t"
	"lret\n"
	"ss16_user:\n\t"
	"int $0x81\n");

static void check_return(const char *name, uint32_t (*run)(uint32_t), uint32_t esp)
{
	run(esp);
	uint32_t want = (kesp_at_return & 0xffff0000u) | (esp & 0xffff);
	char n[48];
	int k = 0;
	for (const char *s = name; *s; s++)
		n[k++] = *s;
	n[k] = 0;
	check_eq(n, ring_exit.esp, want);
	check_eq("ss-is-16-bit-segment", ring_exit.ss & 0xffff, SEL_USS16);
}

void test_main(void)
{
	guest_init();
	idt_init();
	ring_init();
	_Static_assert(SEL_USS16 == 0x3b, "the selector the asm pushes");
	gdt_set(S_USS16, (uint32_t)user_stack, 0xffff, 0xf3, 0x00);
	printf("kernel stack near %08x\n", (uint32_t)&kesp_at_return);
	check_return("iret-ss16-keeps-esp-high", ss16_iret, 0x5aadc0de);
	check_return("iret-ss16-keeps-esp-high-2", ss16_iret, 0x00001ff0);
	check_return("retf-ss16-keeps-esp-high", ss16_retf, 0xfeed1f00);
}
