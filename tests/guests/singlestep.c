/*
 * singlestep.c - EFLAGS.TF (SDM Vol. 3, 17.3.1.4): a #DB trap after each instruction
 * that begins with TF set, its frame's EIP the next instruction, DR6.BS set. POPF that
 * sets TF traps only after the instruction that follows it; POPF that clears TF still
 * traps after itself. INT n clears TF for its handler and raises no trap of its own;
 * the IRET back restores TF, and the instruction after it traps.
 */
#include "guest.h"

#define MAX_TRAPS 16

static volatile uint32_t trap_eip[MAX_TRAPS], traps, dr6_bs;
static volatile uint32_t int30_tf;

static void hook_db(struct frame *f)
{
	uint32_t dr6;
	__asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
	dr6_bs += (dr6 >> 14) & 1;
	__asm__ volatile("mov %0, %%dr6" :: "r"(0));
	if (traps < MAX_TRAPS)
		trap_eip[traps] = f->eip;
	traps++;
	if (traps > 40)
		f->eflags &= ~0x100u;   /* a runaway: stop stepping */
}

static void hook30(struct frame *f)
{
	int30_tf = f->eflags & 0x100;   /* TF in the frame: the interrupted code's */
	uint32_t fl;
	__asm__ volatile("pushf; pop %0" : "=r"(fl));
	int30_tf |= (fl & 0x100) << 1;  /* TF inside the handler: must be clear */
}

extern char s_nop1[], s_mov[], s_add[], s_pushf2[], s_and[], s_popf2[], s_nop5[];
extern char s_int[], s_after_int[], s_nop7[];

static void run_steps(void)
{
	__asm__ volatile("pushf\n\t"
			 "orl $0x100, (%%esp)\n\t"
			 "popf\n"                       /* TF set: no trap after this POPF */
			 ASM_LABEL(s_nop1) "\tnop\n"
			 ASM_LABEL(s_mov) "\tmovl $1, %%eax\n"
			 ASM_LABEL(s_add) "\taddl $2, %%eax\n"
			 ASM_LABEL(s_pushf2) "\tpushf\n"
			 ASM_LABEL(s_and) "\tandl $~0x100, (%%esp)\n"
			 ASM_LABEL(s_popf2) "\tpopf\n"  /* TF cleared: a trap after it */
			 ASM_LABEL(s_nop5) "\tnop\n"
			 ::: "eax", "memory", "cc");
}

static void run_int(void)
{
	__asm__ volatile("pushf\n\t"
			 "orl $0x100, (%%esp)\n\t"
			 "popf\n"
			 ASM_LABEL(s_int) "\tint $0x30\n"
			 ASM_LABEL(s_after_int) "\tnop\n"
			 ASM_LABEL(s_nop7) "\tpushf\n\t"
			 "andl $~0x100, (%%esp)\n\t"
			 "popf\n"
			 ::: "memory", "cc");
}

void test_main(void)
{
	guest_init();
	exc_set_hook(1, hook_db);
	exc_set_hook(0x30, hook30);

	run_steps();
	static const char *const want[] = { s_mov, s_add, s_pushf2, s_and, s_popf2, s_nop5 };
	check_eq("step-trap-count", traps, 6);
	for (uint32_t k = 0; k < 6 && k < traps; k++) {
		char name[32] = "step-trap-eip-0";
		name[14] = (char)('0' + k);
		check_eq(name, trap_eip[k], (uint32_t)want[k]);
	}
	check_eq("step-dr6-bs", dr6_bs, traps);

	traps = 0;
	run_int();
	check_eq("int-frame-tf-set", int30_tf & 0x100, 0x100);
	check_eq("int-handler-tf-clear", int30_tf & 0x200, 0);
	/* After the IRET: the NOP traps, then PUSHF, AND and the POPF that clears TF. */
	check_eq("int-trap-count", traps, 4);
	check_eq("int-first-trap-after-nop", trap_eip[0], (uint32_t)s_nop7);
	guest_finish();
}
