/*
 * callgate16.c - 16-bit call gates (type 4; SDM Vol. 2, CALL, "CallGateSize = 16"):
 * everything the CPU pushes is a word, and the entry point is the gate's low offset
 * word. At the same privilege, LCALL pushes CS and IP (4 bytes); from ring 3 to ring
 * 0 the TSS's stack gets SS, SP, the parameter words copied from the caller's stack,
 * CS and IP (10 bytes for one parameter). The targets run in a 32-bit code segment
 * based so that they lie at offsets below 64 KiB; they record what they see and leave
 * by a far JMP (the same level) or INT 0x81 (ring.h). trapeze stopped the VM at
 * both ("16-bit call gate not supported yet").
 */
#include "guest.h"
#include "ring.h"

enum {
	S_LOWCODE = RING_FREE,  /* 0x38: ring-0 32-bit code based at the targets' 64 KiB */
	G_SAME,                 /* 0x40: DPL 0 -> S_LOWCODE cg16_same */
	G_INNER,                /* 0x4b: DPL 3 -> S_LOWCODE cg16_inner, 1 parameter word */
};
#define SEL(i) ((i) << 3)
#define FL_USER (0x2u | EFL_IF)

uint32_t s16[6], i16[8];

/* cg16_same: ESP, the dword at [ESP] (CS << 16 | IP), CS; back by a far JMP. */
extern char cg16_same[], cg16_inner[], cg16_same_back[], u_call16_after[];
__asm__(".text\n.align 16\ncg16_same:\n\t"
	"movl %esp, s16+0\n\t"
	"movl (%esp), %eax\n\tmovl %eax, s16+4\n\t"
	"movl %cs, %eax\n\tmovl %eax, s16+8\n\t"
	"ljmp $0x08, $cg16_same_back\n"
	"cg16_inner:\n\t"
	"movl %esp, i16+0\n\t"
	"movl %ss, %eax\n\tmovl %eax, i16+4\n\t"
	"movl (%esp), %eax\n\tmovl %eax, i16+8\n\t"      /* CS << 16 | IP */
	"movl 4(%esp), %eax\n\tmovl %eax, i16+12\n\t"    /* SP << 16 | parameter */
	"movzwl 8(%esp), %eax\n\tmovl %eax, i16+16\n\t"  /* SS */
	"movl %cs, %eax\n\tmovl %eax, i16+20\n\t"
	"int $0x81\n");

uint32_t same_esp;
static void call_same(void)
{
	__asm__ volatile("movl %%esp, same_esp\n\t"
			 "lcall $0x40, $0\n"
			 ".globl cg16_same_back\ncg16_same_back:\n\t"
			 "movl %%esp, s16+12\n\t"
			 "movl same_esp, %%esp" ::: "eax", "memory");
}

/* Ring 3: push a parameter, LCALL through G_INNER. */
uint32_t u_call16_esp;
extern char u_call16[];
__asm__(".text\nu_call16:\n\t"
	"pushl $0xaaaa1234\n\t"
	"movl %esp, u_call16_esp\n\t"
	"lcall $0x4b, $0\n"
	"u_call16_after:\n\t"
	"ud2\n");

/* A gate of type 4 (16-bit call gate): offset 15:0, selector, parameter count. */
static void gate16_set(int idx, uint16_t sel, uint16_t off, uint8_t dpl, int params)
{
	gdt[idx] = off | (uint64_t)sel << 16 | (uint64_t)(params & 0x1f) << 32 |
		   (uint64_t)(0x84 | dpl << 5) << 40;
}

void test_main(void)
{
	guest_init();
	idt_init();
	ring_init();
	uint32_t base = (uint32_t)cg16_same - 0x100;    /* the targets at offsets 0x100.. */
	gdt_set(S_LOWCODE, base, 0xfffff, 0x9b, GRAN_4K32);
	gate16_set(G_SAME, SEL(S_LOWCODE), (uint16_t)((uint32_t)cg16_same - base), 0, 0);
	gate16_set(G_INNER, SEL(S_LOWCODE), (uint16_t)((uint32_t)cg16_inner - base), 3, 1);
	gdt_load(GDT_ENTRIES);

	int v = EXC(call_same());
	check_eq("callgate16-same-no-fault", (uint32_t)v, (uint32_t)-1);
	check_eq("callgate16-same-pushes-4-bytes", same_esp - s16[0], 4);
	check_eq("callgate16-same-pushed-ip", s16[1] & 0xffff, (uint32_t)cg16_same_back & 0xffff);
	check_eq("callgate16-same-pushed-cs", s16[1] >> 16, SEL_CODE);
	check_eq("callgate16-same-target-cs", s16[2] & 0xffff, SEL(S_LOWCODE));
	check_eq("callgate16-same-esp-after", s16[3], s16[0]);

	v = EXC(user_run((uint32_t)u_call16, 0, FL_USER));
	check_eq("callgate16-inner-no-fault", (uint32_t)v, (uint32_t)-1);
	check_eq("callgate16-inner-esp", i16[0], RING0_TOP - 10);
	check_eq("callgate16-inner-ss-is-ss0", i16[1] & 0xffff, SEL_KSTACK);
	check_eq("callgate16-inner-pushed-ip", i16[2] & 0xffff, (uint32_t)u_call16_after & 0xffff);
	check_eq("callgate16-inner-pushed-cs", i16[2] >> 16, SEL_UCODE);
	check_eq("callgate16-inner-param", i16[3] & 0xffff, 0x1234);
	check_eq("callgate16-inner-pushed-sp", i16[3] >> 16, u_call16_esp & 0xffff);
	check_eq("callgate16-inner-pushed-ss", i16[4], SEL_UDATA);
	check_eq("callgate16-inner-cs", i16[5] & 0xffff, SEL(S_LOWCODE));
	guest_finish();
}
