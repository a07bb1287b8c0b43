/*
 * code16.c - 16-bit protected-mode code (a code segment with D = 0): 16-bit operands
 * and addresses by default, 66/67 prefixes selecting 32-bit ones, LOOP on CX, near
 * CALL/RET pushing and popping IP, REP MOVSW on SI/DI/CX, conditional branches, far
 * CALL in from 32-bit code and a 32-bit far RET (66 CB) back, and an exception raised
 * in 16-bit code (its frame holds the 16-bit segment and the IP).
 *
 * The 16-bit segment is based at c16_base, its data segment at buf16; both 64 KiB.
 */
#include "guest.h"

#define S_CODE16 7      /* 0x38 */
#define S_DATA16 8      /* 0x40 */

static volatile uint16_t buf16[64] __attribute__((aligned(16)));

extern char c16_base[], c16_entry[], c16_div[], c16_div_at[];
__asm__(".text\n"
	".p2align 4\n"
	".globl c16_base\nc16_base:\n"
	".code16\n"
	".globl c16_entry\nc16_entry:\n\t"
	"mov $5, %cx\n\t"
	"xor %ax, %ax\n"
	"1:\n\t"
	"add %cx, %ax\n\t"
	"loop 1b\n\t"                   /* 5+4+3+2+1 */
	"mov %ax, 0\n\t"                /* [0] = 15 (a moffs16) */
	"mov $0x10, %bx\n\t"
	"mov $0x2, %si\n\t"
	"movw $0x1234, (%bx,%si)\n\t"   /* [0x12] */
	"movw $0x5678, 2(%bx,%si)\n\t"  /* [0x14] */
	"push %ax\n\t"
	"push $0x7777\n\t"
	"pop %dx\n\t"
	"pop %bx\n\t"                   /* 15 */
	"call 3f\n\t"                   /* AX = 2 * BX */
	"mov %ax, 2\n\t"
	"mov %dx, 4\n\t"
	"push %ds\n\t"
	"pop %es\n\t"
	"mov $0x12, %si\n\t"
	"mov $0x20, %di\n\t"
	"mov $2, %cx\n\t"
	"cld\n\t"
	"rep movsw\n\t"                 /* [0x20..0x23] = [0x12..0x15] */
	"cmp $30, %ax\n\t"
	"jne 2f\n\t"
	"movw $0xabcd, 6\n\t"
	"mov $0x55667788, %eax\n\t"     /* 66: a 32-bit operand */
	"mov %eax, 8\n\t"
	"addr32 movw $0x4242, 12\n\t"   /* 67: a 32-bit address */
	"mov $0x30, %ax\n\t"
	"int $0x30\n\t"                 /* the hook doubles AX, the IRET comes back here */
	"mov %ax, 14\n\t"
	"mov $0x99, %ax\n\t"            /* EAX = 0x55660099 */
	"lretl\n"                       /* 66 CB: back to the 32-bit caller */
	"2:\n\t"
	"movw $0xdead, 6\n\t"
	"lretl\n"
	"3:\n\t"
	"mov %bx, %ax\n\t"
	"add %ax, %ax\n\t"
	"ret\n"                         /* pops IP */
	".globl c16_div\nc16_div:\n\t"
	"mov $7, %ax\n\t"
	"xor %cl, %cl\n"
	".globl c16_div_at\nc16_div_at:\n\t"
	"div %cl\n\t"
	"lretl\n"
	".code32\n");

static uint32_t far16(uint32_t off)
{
	uint32_t ret;
	struct { uint32_t off; uint16_t sel; } __attribute__((packed)) target = { off, S_CODE16 << 3 };
	void *tp = &target;
	__asm__ volatile("push %%ds\n\t"
			 "push %%es\n\t"
			 "push %%ebp\n\t"
			 "movw %2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "lcall *%%ss:(%1)\n\t"
			 "pop %%ebp\n\t"
			 "pop %%es\n\t"
			 "pop %%ds"
			 : "=a"(ret), "+S"(tp) : "i"(S_DATA16 << 3)
			 : "ebx", "ecx", "edx", "edi", "memory", "cc");
	return ret;
}

/* INT 0x30 from 16-bit code through a 32-bit interrupt gate: the frame holds the
 * 16-bit CS and the IP after the INT; AX doubles. */
static uint32_t int30_cs, int30_eip;
static void hook30(struct frame *f)
{
	int30_cs = f->cs & 0xffff;
	int30_eip = f->eip;
	f->eax = (f->eax & 0xffff0000u) | ((f->eax * 2) & 0xffff);
}

void test_main(void)
{
	guest_init();
	gdt_set(S_CODE16, (uint32_t)c16_base, 0xffff, ACC_CODE, 0);
	gdt_set(S_DATA16, (uint32_t)buf16, 0xffff, ACC_DATA, 0);
	gdt_load(GDT_ENTRIES);
	exc_set_hook(0x30, hook30);

	uint32_t ret = 0;
	int v = EXC(ret = far16((uint32_t)(c16_entry - c16_base)));
	check_eq("code16-only-the-int", (uint32_t)v, 0x30);  /* hooks record their vector */
	check_eq("code16-returned-eax", ret, 0x55660099);
	check_eq("code16-loop-cx", buf16[0], 15);
	check_eq("code16-bx-si-store", buf16[9], 0x1234);
	check_eq("code16-near-call-ret", buf16[1], 30);
	check_eq("code16-push-pop", buf16[2], 0x7777);
	check_eq("code16-rep-movsw", (uint32_t)buf16[16] | (uint32_t)buf16[17] << 16, 0x56781234);
	check_eq("code16-cmp-jne", buf16[3], 0xabcd);
	check_eq("code16-o32", (uint32_t)buf16[4] | (uint32_t)buf16[5] << 16, 0x55667788);
	check_eq("code16-a32", buf16[6], 0x4242);
	check_eq("code16-int-iret", buf16[7], 0x60);
	check_eq("code16-int-frame-cs", int30_cs, S_CODE16 << 3);
	check(int30_eip < 0x100, "code16-int-frame-ip");

	v = EXC(far16((uint32_t)(c16_div - c16_base)));
	check_eq("code16-divide-error", (uint32_t)v, 0);
	check_eq("code16-fault-cs", exc_last.cs & 0xffff, S_CODE16 << 3);
	check_eq("code16-fault-ip", exc_last.eip, (uint32_t)(c16_div_at - c16_base));
	guest_finish();
}
