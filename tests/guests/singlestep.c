/*
 * singlestep.c - EFLAGS.TF (SDM Vol. 3, 17.3.1.4): a #DB trap after each instruction
 * that begins with TF set, its frame's EIP the next instruction, DR6.BS set. POPF that
 * sets TF traps only after the instruction that follows it; POPF that clears TF still
 * traps after itself. INT n clears TF for its handler and raises no trap of its own;
 * the IRET back restores TF, and the instruction after it traps.
 * A REP string instruction traps after each iteration, EIP at the instruction (and RF
 * set in the frame) until the last, with ECX, ESI and EDI as far as it got; REPE CMPS
 * stops on its condition. MOV SS and POP SS hold the trap off until after the next
 * instruction (SDM Vol. 3, 6.8.3): one trap for the two.
 */
#include "guest.h"

#define MAX_TRAPS 16

static volatile uint32_t trap_eip[MAX_TRAPS], traps, dr6_bs;
static volatile uint32_t trap_ecx[MAX_TRAPS], trap_esi[MAX_TRAPS], trap_edi[MAX_TRAPS];
static volatile uint32_t trap_rf[MAX_TRAPS];
static volatile uint32_t int30_tf;

static void hook_db(struct frame *f)
{
	uint32_t dr6;
	__asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
	dr6_bs += (dr6 >> 14) & 1;
	__asm__ volatile("mov %0, %%dr6" :: "r"(0));
	if (traps < MAX_TRAPS) {
		trap_eip[traps] = f->eip;
		trap_ecx[traps] = f->ecx;
		trap_esi[traps] = f->esi;
		trap_edi[traps] = f->edi;
		trap_rf[traps] = f->eflags & 0x10000;
	}
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

extern char s_rep[], s_rep_after[], s_cmps[], s_cmps_after[];
extern char s_movss[], s_movss_nop[], s_movss_next[], s_popss[], s_popss_nop[], s_popss_next[];

static uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, dst[8];
static uint8_t cmp_a[4] = { 9, 9, 9, 9 }, cmp_b[4] = { 9, 8, 9, 9 };

/* REP MOVSB of 3 bytes stepped: three traps. */
static void run_rep(void)
{
	__asm__ volatile("pushf\n\t"
			 "orl $0x100, (%%esp)\n\t"
			 "popf\n"
			 ASM_LABEL(s_rep) "\trep movsb\n"
			 ASM_LABEL(s_rep_after) "\tpushf\n\t"
			 "andl $~0x100, (%%esp)\n\t"
			 "popf\n"
			 : "+c"(*(uint32_t[]){ 3 }), "+S"(*(uint32_t[]){ (uint32_t)src }),
			   "+D"(*(uint32_t[]){ (uint32_t)dst })
			 :: "memory", "cc");
}

/* REPE CMPSB of 4 bytes that differ at the second: two iterations, two traps. */
static void run_cmps(void)
{
	__asm__ volatile("pushf\n\t"
			 "orl $0x100, (%%esp)\n\t"
			 "popf\n"
			 ASM_LABEL(s_cmps) "\trepe cmpsb\n"
			 ASM_LABEL(s_cmps_after) "\tpushf\n\t"
			 "andl $~0x100, (%%esp)\n\t"
			 "popf\n"
			 : "+c"(*(uint32_t[]){ 4 }), "+S"(*(uint32_t[]){ (uint32_t)cmp_a }),
			   "+D"(*(uint32_t[]){ (uint32_t)cmp_b })
			 :: "memory", "cc");
}

static void run_ss(void)
{
	__asm__ volatile("pushf\n\t"
			 "orl $0x100, (%%esp)\n\t"
			 "popf\n\t"
			 "movw %%ss, %%ax\n"
			 ASM_LABEL(s_movss) "\tmovw %%ax, %%ss\n"
			 ASM_LABEL(s_movss_nop) "\tnop\n"
			 ASM_LABEL(s_movss_next) "\tpushl %%eax\n"
			 ASM_LABEL(s_popss) "\tpopl %%ss\n"
			 ASM_LABEL(s_popss_nop) "\tnop\n"
			 ASM_LABEL(s_popss_next) "\tpushf\n\t"
			 "andl $~0x100, (%%esp)\n\t"
			 "popf\n"
			 ::: "eax", "memory", "cc");
}

static void test_rep(void)
{
	traps = 0;
	run_rep();
	/* Traps after each of the 3 iterations, then after PUSHF, AND and POPF. */
	check_eq("rep-trap-count", traps, 6);
	check(trap_eip[0] == (uint32_t)s_rep && trap_eip[1] == (uint32_t)s_rep &&
	      trap_eip[2] == (uint32_t)s_rep_after, "rep-trap-eips");
	check(trap_ecx[0] == 2 && trap_ecx[1] == 1 && trap_ecx[2] == 0, "rep-trap-ecx");
	check(trap_esi[0] == (uint32_t)src + 1 && trap_esi[1] == (uint32_t)src + 2 &&
	      trap_edi[1] == (uint32_t)dst + 2 && trap_edi[2] == (uint32_t)dst + 3, "rep-trap-esi-edi");
	check(dst[0] == 1 && dst[1] == 2 && dst[2] == 3 && dst[3] == 0, "rep-copied");
	/* RF = 1 in the frame of a trap after an iteration but the last (SDM Vol. 3,
	 * 18.3.1.1); QEMU 7.2 pushes RF clear. */
	if (under_qemu())
		printf("SKIP rep-trap-rf qemu-pushes-rf-clear\n");
	else
		check(trap_rf[0] && trap_rf[1] && !trap_rf[2], "rep-trap-rf");

	traps = 0;
	run_cmps();
	check_eq("repe-cmps-trap-count", traps, 5);
	check(trap_eip[0] == (uint32_t)s_cmps && trap_eip[1] == (uint32_t)s_cmps_after,
	      "repe-cmps-trap-eips");
	check(trap_ecx[0] == 3 && trap_ecx[1] == 2, "repe-cmps-trap-ecx");
}

static void test_ss(void)
{
	traps = 0;
	run_ss();
	/* The MOV from SS traps; MOV SS does not, the NOP after it does (at the PUSH);
	 * the PUSH traps; POP SS does not, the NOP after it does; then PUSHF, AND and
	 * POPF. */
	check_eq("ss-trap-count", traps, 7);
	check_eq("mov-from-ss-traps", trap_eip[0], (uint32_t)s_movss);
	check_eq("mov-ss-no-trap-after-it", trap_eip[1], (uint32_t)s_movss_next);
	check_eq("push-before-pop-ss-traps", trap_eip[2], (uint32_t)s_popss);
	check_eq("pop-ss-no-trap-after-it", trap_eip[3], (uint32_t)s_popss_next);
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

	test_rep();
	test_ss();
	guest_finish();
}
