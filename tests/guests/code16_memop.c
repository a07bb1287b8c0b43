/*
 * code16_memop.c - 16-bit code (CS.D = 0) whose data lies where trapeze must emulate
 * every access: a data segment based at linear 0x2000, in the lowest 64 KiB, which
 * the host cannot map (paging off). Plain moves with 16-bit addressing, an ALU
 * read-modify-write, a moffs16, XLAT, PUSH/POP of memory, REP MOVSW on SI/DI/CX,
 * IMUL, x87 and SSE loads and stores, CMPXCHG8B. trapeze's memory emulator declined
 * 16-bit code and stopped the VM.
 */
#include "guest.h"

#define S_CODE16 7      /* 0x38 */
#define S_DATA16 8      /* 0x40: based at LOW */
#define LOW      0x2000u

extern char c16m_base[], c16m_entry[];
__asm__(".text\n"
	".p2align 4\n"
	".globl c16m_base\nc16m_base:\n"
	".code16\n"
	".globl c16m_entry\nc16m_entry:\n\t"
	"push %ds\n\tpop %es\n\t"
	"mov $0x10, %bx\n\t"
	"mov $0x4, %si\n\t"
	"movw $0x1234, (%bx,%si)\n\t"   /* [0x14] = 0x1234 */
	"mov (%bx,%si), %ax\n\t"
	"add %ax, 2(%bx,%si)\n\t"       /* [0x16] += 0x1234 */
	"mov %ax, 0x18\n\t"             /* moffs16: [0x18] = 0x1234 */
	"mov $0x20, %bx\n\t"
	"mov $3, %al\n\t"
	"xlat\n\t"                      /* AL = [0x23] */
	"mov %al, 0x1a\n\t"
	"pushw 0x14\n\t"
	"popw 0x1c\n\t"                 /* [0x1c] = 0x1234 */
	"mov $0x10, %si\n\t"
	"mov $0x40, %di\n\t"
	"mov $8, %cx\n\t"
	"cld\n\t"
	"rep movsw\n\t"                 /* [0x40..0x4f] = [0x10..0x1f] */
	"imul 0x14, %dx\n\t"            /* DX = 7 * 0x1234 (DX = 7 on entry) */
	"mov %dx, 0x50\n\t"
	"flds 0x60\n\t"                 /* 2.5f */
	"fadds 0x60\n\t"
	"fstps 0x64\n\t"                /* 5.0f */
	"movups 0x70, %xmm0\n\t"
	"movups %xmm0, 0xa1\n\t"
	"movl $0x11112222, %eax\n\tmovl $0x33334444, %edx\n\t"
	"movl $0x55556666, %ebx\n\tmovl $0x77778888, %ecx\n\t"
	"cmpxchg8b 0x90\n\t"            /* [0x90] was EDX:EAX: now ECX:EBX */
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
			 "movl $7, %%edx\n\t"
			 "lcall *%%ss:(%1)\n\t"
			 "pop %%ebp\n\t"
			 "pop %%es\n\t"
			 "pop %%ds"
			 : "=a"(ret), "+S"(tp) : "i"(S_DATA16 << 3)
			 : "ebx", "ecx", "edx", "edi", "memory", "cc");
	return ret;
}

void test_main(void)
{
	guest_init();
	write_cr4(read_cr4() | 0x600);          /* OSFXSR, OSXMMEXCPT */
	write_cr0(read_cr0() & ~0x4u);          /* EM off */
	__asm__ volatile("fninit");
	gdt_set(S_CODE16, (uint32_t)c16m_base, 0xffff, ACC_CODE, 0);
	gdt_set(S_DATA16, LOW, 0xffff, ACC_DATA, 0);
	gdt_load(GDT_ENTRIES);
	volatile uint8_t *m = (volatile uint8_t *)LOW;
	for (int k = 0; k < 0x100; k++)
		m[k] = (uint8_t)(k + 0x30);
	*(volatile uint32_t *)(LOW + 0x60) = 0x40200000;        /* 2.5f */
	*(volatile uint32_t *)(LOW + 0x90) = 0x11112222;
	*(volatile uint32_t *)(LOW + 0x94) = 0x33334444;
	uint16_t old16 = *(volatile uint16_t *)(LOW + 0x16);

	int v = EXC(far16((uint32_t)(c16m_entry - c16m_base)));
	check_eq("code16-memop-no-exception", (uint32_t)v, (uint32_t)-1);
	check_eq("code16-memop-mov", *(volatile uint16_t *)(LOW + 0x14), 0x1234);
	check_eq("code16-memop-add", *(volatile uint16_t *)(LOW + 0x16), (uint16_t)(old16 + 0x1234));
	check_eq("code16-memop-moffs16", *(volatile uint16_t *)(LOW + 0x18), 0x1234);
	check_eq("code16-memop-xlat", m[0x1a], 0x23 + 0x30);
	check_eq("code16-memop-push-pop", *(volatile uint16_t *)(LOW + 0x1c), 0x1234);
	check_eq("code16-memop-rep-movsw", *(volatile uint32_t *)(LOW + 0x44),
		 *(volatile uint32_t *)(LOW + 0x14));
	check_eq("code16-memop-imul", *(volatile uint16_t *)(LOW + 0x50), (uint16_t)(7 * 0x1234));
	check_eq("code16-memop-x87", *(volatile uint32_t *)(LOW + 0x64), 0x40a00000);
	check_eq("code16-memop-sse", *(volatile uint32_t *)(LOW + 0xa5), *(volatile uint32_t *)(LOW + 0x74));
	check_eq("code16-memop-cmpxchg8b", *(volatile uint32_t *)(LOW + 0x94), 0x77778888);
	guest_finish();
}
