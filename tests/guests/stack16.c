/*
 * stack16.c - a 16-bit stack segment (B = 0) under 32-bit code: pushes and pops move
 * SP only and wrap at 64 KiB, ESP[31:16] survives everything (monitor exits included:
 * IRETQ into a 16-bit stack would load SP alone), PUSHFD/POPFD, CALL/RET and RET n.
 */
#include "guest.h"

#define S_SS16 5        /* 0x28: 16-bit data, base stack16_buf, limit 0xffff */
static uint8_t stack16_buf[0x10000] __attribute__((aligned(16)));
uint32_t saved_esp, esp_after, eax_after;

/* Run body with SS = the 16-bit segment and ESP = esp; then record ESP and EAX. */
#define ON_STACK16(esp, body)                                                   \
	__asm__ volatile("movl %%esp, saved_esp\n\t"                            \
			 "movw $0x28, %%ax; movw %%ax, %%ss; movl $" #esp ", %%esp\n\t" \
			 body "\n\t"                                                    \
			 "movl %%esp, esp_after; movl %%eax, eax_after\n\t"             \
			 "movw $0x10, %%cx; movw %%cx, %%ss; movl saved_esp, %%esp"     \
			 ::: "eax", "ebx", "ecx", "edx", "memory", "cc")

void test_main(void)
{
	guest_init();
	idt_init();
	gdt_set(S_SS16, (uint32_t)stack16_buf, 0xffff, 0x93, 0x00);
	gdt_load(GDT_ENTRIES);

	ON_STACK16(0x12340100, "pushl $0x11223344; popl %%eax");
	check_eq("push-pop-esp", esp_after, 0x12340100);
	check_eq("push-pop-value", eax_after, 0x11223344);
	check_eq("push-wrote-at-sp", *(uint32_t *)&stack16_buf[0xfc], 0x11223344);

	ON_STACK16(0x56780000, "pushl $0xaabbccdd; movl %%esp, %%ebx; popl %%eax; movl %%ebx, %%eax");
	check_eq("push-wraps-sp", eax_after, 0x5678fffc);
	check_eq("pop-wraps-back", esp_after, 0x56780000);
	check_eq("wrapped-push-memory", *(uint32_t *)&stack16_buf[0xfffc], 0xaabbccdd);

	ON_STACK16(0x9abc0200, "cpuid; movl %%esp, %%eax");
	check_eq("monitor-exit-keeps-esp-high", eax_after, 0x9abc0200);

	ON_STACK16(0x43210300, "clc; pushfl; movzwl %%sp, %%ebx; orl $1, %%ss:(%%ebx); popfl; "
		   "setc %%al; movzbl %%al, %%eax");
	check_eq("pushfd-popfd", eax_after, 1);
	check_eq("pushfd-popfd-esp", esp_after, 0x43210300);

	ON_STACK16(0x77770400, "call 1f; jmp 2f\n1:\tmovl $7, %%eax; ret\n2:");
	check_eq("call-ret", eax_after, 7);
	check_eq("call-ret-esp", esp_after, 0x77770400);

	ON_STACK16(0x66660500, "pushl $0; pushl $0; call 1f; jmp 2f\n1:\tmovl $9, %%eax; ret $8\n2:");
	check_eq("ret-imm", eax_after, 9);
	check_eq("ret-imm-esp", esp_after, 0x66660500);


}
