/*
 * ic_refill.c - indirect branches whose targets change over time: a RET reached from
 * many call sites, an indirect call and an indirect jump whose register takes other
 * values phase by phase. The translator remembers two targets per site (its inline
 * cache) and, once the lookups it sends to the table have counted down, makes one of
 * them the latest target instead; every branch must still land where the guest sent
 * it. Each landing place adds its own weight to EDX, so a branch that went to another
 * one shows in the sum. The same RETs run again in a code segment with a limit (the
 * refill's way out there notes the branch for the CS-limit check).
 *
 * tests/guests/expect-stat.sh runs this guest with --stats and wants refills counted.
 */
#include "guest.h"

#define S_LIM 3         /* 0x18: code, base 0, limit 2 MiB - 1 */

uint32_t ret_phases(void);
uint32_t call_phases(void);
uint32_t jmp_phases(void);

/* The end of a phase loop of call_phases and jmp_phases: the next table index is 0, 1,
 * then 2 while ECX > 2002, then (i + 1) & 3; then the sum in EDX is returned. */
#define PHASE_STEP \
	"cmpl $2 + 2000, %ecx\n\t" \
	"ja 2f\n\t" \
	"incl %ebx\n\t" \
	"andl $3, %ebx\n\t" \
	"jmp 3f\n" \
	"2:\tcmpl $2, %ebx\n\t" \
	"je 3f\n\t" \
	"incl %ebx\n" \
	"3:\tloop 1b\n\t" \
	"movl %edx, %eax\n\t" \
	"popl %ebx\n\t" \
	"popl %esi\n\t" \
	"ret\n"

/* A site: call the one-instruction function, then add this site's weight. */
#define RSITE(w) "call ret_leaf\n\taddl $" #w ", %edx\n\t"

__asm__(
	".text\n"
	"ret_leaf:\n\t"
	"ret\n"

	/* Two callers fill the RET's cache, a third runs 300 times (a refill), then
	 * five take turns 500 times, then the fourth alone 300 times. */
	".globl ret_phases\n"
	"ret_phases:\n\t"
	"xorl %edx, %edx\n\t"
	RSITE(1)
	RSITE(2)
	"movl $300, %ecx\n"
	"1:\t" RSITE(100)
	"loop 1b\n\t"
	"movl $500, %ecx\n"
	"2:\t" RSITE(1) RSITE(2) RSITE(100) RSITE(10000) RSITE(1000000)
	"loop 2b\n\t"
	"movl $300, %ecx\n"
	"3:\t" RSITE(10000)
	"loop 3b\n\t"
	"movl %edx, %eax\n\t"
	"ret\n"

	"call_f1:\n\taddl $1, %edx\n\tret\n"
	"call_f2:\n\taddl $2, %edx\n\tret\n"
	"call_f3:\n\taddl $100, %edx\n\tret\n"
	"call_f4:\n\taddl $10000, %edx\n\tret\n"
	".section .rodata\n"
	".p2align 2\n"
	"call_tbl:\n\t.long call_f1, call_f2, call_f3, call_f4\n"
	".text\n"

	/* One CALL *ESI site: f1, f2, then f3 299 times, then all four in turn.
	 * ESI from a register, so the site is an inline cache (not a table). */
	".globl call_phases\n"
	"call_phases:\n\t"
	"pushl %esi\n\t"
	"pushl %ebx\n\t"
	"xorl %edx, %edx\n\t"
	"xorl %ebx, %ebx\n\t"
	"movl $2 + 300 + 2000, %ecx\n"
	"1:\tmovl call_tbl(,%ebx,4), %esi\n\t"
	"call *%esi\n\t"
	PHASE_STEP

	/* One JMP *ESI site, the same phases; every target jumps back. */
	".globl jmp_phases\n"
	"jmp_phases:\n\t"
	"pushl %esi\n\t"
	"pushl %ebx\n\t"
	"xorl %edx, %edx\n\t"
	"xorl %ebx, %ebx\n\t"
	"movl $2 + 300 + 2000, %ecx\n"
	"1:\tmovl jmp_tbl(,%ebx,4), %esi\n\t"
	"jmp *%esi\n"
	"jmp_t1:\taddl $1, %edx\n\tjmp 4f\n"
	"jmp_t2:\taddl $2, %edx\n\tjmp 4f\n"
	"jmp_t3:\taddl $100, %edx\n\tjmp 4f\n"
	"jmp_t4:\taddl $10000, %edx\n\tjmp 4f\n"
	"4:\t" PHASE_STEP
	".section .rodata\n"
	".p2align 2\n"
	"jmp_tbl:\n\t.long jmp_t1, jmp_t2, jmp_t3, jmp_t4\n"
	".text\n");

/* 1 + 2, then 300 x 100, 500 x (1 + 2 + 100 + 10000 + 1000000), 300 x 10000 */
#define RET_SUM (3u + 30000u + 500u * 1010103u + 3000000u)
/* f1, f2, then f3 299 times, then 2001 calls in turn from f4 on (f4 501 times, the
 * others 500) */
#define CALL_SUM (3u + 299u * 100u + 501u * 10000u + 500u * 103u)

static uint32_t ret_phases_limited(void)
{
	uint32_t sum;
	__asm__ volatile(
		"ljmp $0x18, $1f\n1:\t"
		"call ret_phases\n\t"
		"ljmp $0x08, $2f\n2:"
		: "=a"(sum) :: "ecx", "edx", "memory", "cc");
	return sum;
}

void test_main(void)
{
	guest_init();
	gdt_set(S_LIM, 0, 0x1ff, ACC_CODE, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	idt_init();
	check_eq("ret-callers-change", ret_phases(), RET_SUM);
	check_eq("ret-callers-change-again", ret_phases(), RET_SUM);
	check_eq("call-reg-targets-change", call_phases(), CALL_SUM);
	check_eq("jmp-reg-targets-change", jmp_phases(), CALL_SUM);
	check_eq("ret-callers-change-limited-cs", ret_phases_limited(), RET_SUM);
}
