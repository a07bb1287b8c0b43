/*
 * hole_sites.c - instructions that reach where the monitor's segment shadows cannot:
 * the top of linear space (Linux keeps its entry stack and fixmap there), the offsets
 * that wrap below GS's base, and GS's wrap view used for offsets that do not wrap.
 * trapeze learns such instructions at run time and translates them as callouts, and
 * gives back to native execution those that mostly do not need it (rewriter/sites.h);
 * each way the results must be the CPU's.
 *
 * The top page: linear 0xffff0000 mapped to a frame of RAM. A stack there (push, pop,
 * call, ret, pushf/popf through it), plain loads and stores, REP MOVS and STOS short
 * and long, a forward overlapping REP MOVSB (whose element order shows), and a helper
 * that touches the top once among many ordinary calls.
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define TOP      0xffff0000u            /* a page in the top 8 MiB of linear space */
#define TOP_PA   (PG_FRAME_A + 0x3000)  /* its frame */
#define WIN      0xff800000u            /* the first page of the top 8 MiB */
#define WIN_PA   (PG_FRAME_A + 0x4000)
#define S_UGS    7                      /* 0x3b: DPL-3 data based at gs_buf + 64 */
#define S_KGS    8                      /* 0x40: DPL-0 data based at gs_buf + 64 */
#define S_LOWGS  9                      /* 0x48: DPL-0 data based at 0x1000 */
#define S_SS16   10                     /* 0x50: 16-bit stack segment based at TOP */
#define S_HIGHGS 11                     /* 0x5b: DPL-3 data based at 0xfff00000 */

uint32_t gs_buf[32] __attribute__((aligned(64)));
uint32_t saved_esp;

/* Runs fn on a stack at the top page: pushes and pops, a call and a return, PUSHF/
 * POPF, a push of memory and a pop into memory, pushes of FS and DS, all through SS
 * there. Returns EAX. */
uint32_t on_top_stack(uint32_t arg);
__asm__(".text\n"
	".globl on_top_stack\non_top_stack:\n\t"
	"movl 4(%esp), %eax\n\t"
	"pushl %ebx\n\t"
	"movl %esp, saved_esp\n\t"
	"movl $0xffff0ff0, %esp\n\t"
	"pushl %eax\n\t"                /* arg at 0xffff0fec */
	"call 1f\n\t"
	"popl %ecx\n\t"
	"movl saved_esp, %esp\n\t"
	"popl %ebx\n\t"
	"ret\n"
	"1:\n\t"
	"pushfl\n\t"
	"orl $0x1, (%esp)\n\t"          /* CF set in the image on the top stack */
	"popfl\n\t"
	"movl 4(%esp), %eax\n\t"        /* arg, read through SS at the top */
	"adcl $0x100, %eax\n\t"         /* + 0x100 + CF */
	"pushl 4(%esp)\n\t"             /* push of memory: arg again */
	"popl %ebx\n\t"
	"addl %ebx, %eax\n\t"           /* 2 * arg + 0x101 */
	"pushl %eax\n\t"
	"popl 0xffff0f00\n\t"           /* pop into memory at the top */
	"movl 0xffff0f00, %eax\n\t"
	"pushl $0x5a5a0000\n\t"         /* PUSH sreg at the top: the selector, its upper */
	"popl %ecx\n\t"                 /* half zero or the old 0x5a5a */
	"movl %fs, %edx\n\t"
	"push %fs\n\t"
	"popl %ecx\n\t"
	"subl %edx, %ecx\n\t"
	"andl $0xa5a5ffff, %ecx\n\t"
	"addl %ecx, %eax\n\t"
	"movl %ds, %edx\n\t"
	"push %ds\n\t"
	"popl %ecx\n\t"
	"subl %edx, %ecx\n\t"
	"andl $0xa5a5ffff, %ecx\n\t"
	"addl %ecx, %eax\n\t"
	"ret\n");

/* The same load for any address: ordinary pages mostly, the top page sometimes. */
__attribute__((noinline)) static uint32_t load(uint32_t lin)
{
	uint32_t v;
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(lin) : "memory");
	return v;
}

static void rep_movsd(uint32_t dst, uint32_t src, uint32_t n)
{
	__asm__ volatile("cld; rep movsl" : "+D"(dst), "+S"(src), "+c"(n) :: "memory");
}
static void rep_movsb(uint32_t dst, uint32_t src, uint32_t n)
{
	__asm__ volatile("cld; rep movsb" : "+D"(dst), "+S"(src), "+c"(n) :: "memory");
}
static void rep_stosd(uint32_t dst, uint32_t v, uint32_t n)
{
	__asm__ volatile("cld; rep stosl" : "+D"(dst), "+c"(n) : "a"(v) : "memory");
}

/* A gs: load through ECX, the same instruction for every offset. */
USER_INSN(gs_reg, "movw $0x3b, %ax; movw %ax, %gs; movl 4(%esp), %ecx\n\t", "movl %gs:(%ecx), %eax");
/* gs: accesses below GS's base in the forms a translator may do without GS's wrap
 * view (EDX = -8: gs_buf[14] and its neighbours); EAX 0 when every value was right. */
USER_INSN(gs_forms, "movw $0x3b, %ax; movw %ax, %gs; movl 4(%esp), %edx\n\t",
	  "movl %gs:(%edx), %ebx\n\t"            /* 0x6500000e */
	  "addl $5, %gs:(%edx)\n\t"              /* [14] = 0x65000013 */
	  "movl %gs:(%edx), %esi\n\t"
	  "incl %gs:-4(%edx)\n\t"                /* [13] = 0x6500000e */
	  "movzbl %gs:-4(%edx), %edi\n\t"        /* 0x0e */
	  "movl %esi, %gs:-8(%edx)\n\t"          /* [12] = 0x65000013 */
	  "cmpl %esi, %gs:0xfffffff8\n\t"        /* [14] == ESI */
	  "sete %cl\n\tmovzbl %cl, %ecx\n\txorl $1, %ecx\n\t"
	  "xorl $0x6500000e, %ebx\n\txorl $0x65000013, %esi\n\txorl $0x0e, %edi\n\t"
	  "orl %esi, %ebx\n\torl %edi, %ebx\n\torl %ecx, %ebx\n\tmovl %ebx, %eax");
/* A gs: load with GS based at 0xfff00000: offset 0x700000 wraps to linear 0x600000
 * (and a translator that forgot the base would read RAM at 0x700000). */
USER_INSN(gs_high, "movw $0x5b, %ax; movw %ax, %gs; movl 4(%esp), %edx\n\t",
	  "movl %gs:(%edx), %ebx\n\tmovl %ebx, %eax");
/* A gs: load whose linear address wraps to the lowest 64 KiB (which the host cannot
 * map: emulated), with EAX and ECX holding values that must survive it. */
USER_INSN(gs_low, "movw $0x3b, %ax; movw %ax, %gs; movl 4(%esp), %edx\n\t"
	  "movl $0x1234, %ecx; movl $0x50000, %eax; xorl %ebx, %ebx\n\t",
	  "addl %gs:(%edx), %ebx\n\tleal (%ebx,%ecx), %ebx\n\tleal (%ebx,%eax), %eax");
__attribute__((noinline)) static uint32_t k_gs_reg(uint32_t off)
{
	uint32_t v;
	__asm__ volatile("movw $0x40, %%ax; movw %%ax, %%gs\n\t"
			 "movl %%gs:(%1), %0\n\t"
			 "movw $0x10, %%ax; movw %%ax, %%gs" : "=&r"(v) : "c"(off) : "eax", "memory");
	return v;
}

/* LEAVE on a 16-bit stack at the top: SP <- BP, ESP[31:16] kept, then POP EBP through
 * SP. Returns ESP after it; *ebp gets EBP. */
uint32_t leave16(uint32_t *ebp);
uint32_t saved_ebp, saved_ss, ebp_out;
__asm__(".text\n"
	".globl leave16\nleave16:\n\t"
	"movl %ebp, saved_ebp\n\t"
	"movl %esp, saved_esp\n\t"
	"movw %ss, saved_ss\n\t"
	"movl $0x50, %eax\n\t"
	"movl $0x12340ff0, %esp\n\t"
	"movl $0xabcd0fe0, %ebp\n\t"
	"movl %eax, %ss\n\t"
	"leave\n\t"
	"movl %esp, %eax\n\t"
	"movl %ebp, ebp_out\n\t"
	"movw saved_ss, %ss\n\t"
	"movl saved_esp, %esp\n\t"
	"movl saved_ebp, %ebp\n\t"
	"movl 4(%esp), %ecx\n\t"
	"movl ebp_out, %edx\n\t"
	"movl %edx, (%ecx)\n\t"
	"ret\n");

static uint8_t low_buf[8192] __attribute__((aligned(4096)));

static void top_tests(void)
{
	uint8_t *top = (uint8_t *)TOP_PA;       /* the frame, through the identity map */
	uint32_t bad = 0;
	/* Many times, so that the learnt callouts, not the first faults, do the work. */
	for (uint32_t k = 0; k < 300; k++)
		if (on_top_stack(k) != 2 * k + 0x101)
			bad++;
	check_eq("top-stack", bad, 0);

	for (uint32_t k = 0; k < 1024; k++)
		((uint32_t *)low_buf)[k] = 0x51000000u + k;
	rep_movsd(TOP + 0x100, (uint32_t)low_buf, 16);
	check_eq("top-movs-short-in", *(uint32_t *)(top + 0x100 + 15 * 4), 0x5100000f);
	bad = 0;
	for (int k = 0; k < 200; k++) {             /* short, learnt, repeated */
		rep_movsd((uint32_t)low_buf + 4096, TOP + 0x100, 16);
		bad += ((uint32_t *)low_buf)[1024 + 15] != 0x5100000f;
		((uint32_t *)low_buf)[1024 + 15] = 0;
	}
	check_eq("top-movs-short-out", bad, 0);
	rep_movsd(TOP, (uint32_t)low_buf, 1024);    /* a whole page */
	check_eq("top-movs-page", load(TOP + 4092), 0x510003ff);
	rep_stosd(TOP + 8, 0xabcd1234u, 1000);
	check_eq("top-stos", *(uint32_t *)(top + 8 + 999 * 4), 0xabcd1234);
	check_eq("top-stos-end", *(uint32_t *)(top + 8 + 1000 * 4), 0x510003ea);
	/* Forward, overlapping by one byte: each element reads what the last wrote. */
	top[0x200] = 0x5a;
	rep_movsb(TOP + 0x201, TOP + 0x200, 300);
	check_eq("top-movsb-overlap", top[0x200 + 300] == 0x5a && top[0x200 + 150] == 0x5a, 1);
	rep_movsd((uint32_t)low_buf, TOP + 0x200, 2);
	check_eq("top-movs-overlap-read", ((uint32_t *)low_buf)[1], 0x5a5a5a5a);

	/* A helper that reaches the top once in a while: right each time, whether the
	 * monitor runs it natively or as a callout. */
	*(uint32_t *)(top + 0x40) = 0x70c0ffee;
	((uint32_t *)low_buf)[5] = 0x10101010;
	bad = 0;
	for (int round = 0; round < 3; round++) {
		bad += load(TOP + 0x40) != 0x70c0ffee;
		for (int k = 0; k < 500; k++)
			bad += load((uint32_t)&((uint32_t *)low_buf)[5]) != 0x10101010;
	}
	check_eq("mixed-site", bad, 0);

	/* The first page of the top 8 MiB (where trapeze keeps its own vCPU block): a
	 * whole page of stores lands in the guest's frame, and everything still runs. */
	rep_stosd(WIN, 0x57575757u, 1024);
	pg_wr(WIN + 0x10, 0x01020304);
	pg_inc(WIN + 0x10);
	uint32_t *win = (uint32_t *)WIN_PA;
	check_eq("win-stores-land-in-guest-memory", win[4] ^ win[1023], 0x01020305 ^ 0x57575757);
	check_eq("win-reads-back", pg_rd(WIN + 0xffc), 0x57575757);

	*(uint32_t *)(top + 0xfe0) = 0x0badf00d;
	uint32_t ebp = 0;
	check_eq("top-leave16-esp", leave16(&ebp), 0x12340fe4);
	check_eq("top-leave16-ebp", ebp, 0x0badf00d);
}

static void gs_tests(void)
{
	for (int k = 0; k < 32; k++)
		gs_buf[k] = 0x65000000u + (uint32_t)k;
	/* Below the base (wrapping) and then above it, at the same instruction. */
	check_eq("gs-cpl0-below", k_gs_reg((uint32_t)-8), 0x6500000e);
	check_eq("gs-cpl0-below-again", k_gs_reg((uint32_t)-8), 0x6500000e);
	uint32_t got = 0;
	int v = EXC(got = k_gs_reg(8));
	check_eq("gs-cpl0-above-after-wrap", got, 0x65000012);
	check_eq("gs-cpl0-above-no-exception", (uint32_t)v, (uint32_t)-1);
	user_expect_ret("gs-cpl3-below", u_gs_reg, (uint32_t)-8, 0x202, 0x6500000e);
	user_expect_ret("gs-cpl3-below-again", u_gs_reg, (uint32_t)-8, 0x202, 0x6500000e);
	user_expect_ret("gs-cpl3-above-after-wrap", u_gs_reg, 8, 0x202, 0x65000012);
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 32; i++)
			gs_buf[i] = 0x65000000u + (uint32_t)i;
		user_expect_ret(k ? "gs-cpl3-forms-again" : "gs-cpl3-forms", u_gs_forms,
				(uint32_t)-8, 0x202, 0);
		check(gs_buf[12] == 0x65000013 && gs_buf[13] == 0x6500000e &&
		      gs_buf[14] == 0x65000013 && gs_buf[11] == 0x6500000b,
		      k ? "gs-cpl3-forms-memory-again" : "gs-cpl3-forms-memory");
	}
	*(volatile uint32_t *)0x600000 = 0x5a5a0001;
	*(volatile uint32_t *)0x700000 = 0x5a5a0002;
	for (int k = 0; k < 3; k++)
		user_expect_ret(k ? "gs-cpl3-high-base-wraps-again" : "gs-cpl3-high-base-wraps",
				u_gs_high, 0x700000, 0x202, 0x5a5a0001);
	*(volatile uint32_t *)0xe120 = 0x70707071;
	user_expect_ret("gs-cpl3-wrap-below-64k", u_gs_low, 0xe120 - (uint32_t)&gs_buf[16],
			0x202, 0x70757071 + 0x1234);
	user_expect_ret("gs-cpl3-wrap-below-64k-again", u_gs_low, 0xe120 - (uint32_t)&gs_buf[16],
			0x202, 0x70757071 + 0x1234);

	/* gs:disp with disp >= 2^31 and a small base: no wrap, an ordinary address (RAM
	 * ends below it: all ones, no fault). */
	v = EXC(__asm__ volatile("movw $0x48, %%ax; movw %%ax, %%gs; movl %%gs:0x80000000, %%eax; "
				 "movw $0x10, %%ax; movw %%ax, %%gs" ::: "eax", "memory"));
	check_eq("gs-disp-2g-no-fault", (uint32_t)v, (uint32_t)-1);
}

void test_main(void)
{
	guest_init();
	ring_init();
	gdt_set(S_UGS, (uint32_t)&gs_buf[16], 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_KGS, (uint32_t)&gs_buf[16], 0xfffff, 0x93, GRAN_4K32);
	gdt_set(S_LOWGS, 0x1000, 0xfffff, 0x93, GRAN_4K32);
	gdt_set(S_SS16, TOP, 0xffff, 0x93, 0);
	gdt_set(S_HIGHGS, 0xfff00000u, 0xfffff, 0xf3, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	gs_tests();

	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	pg_map(pd, TOP, TOP_PA, PG_P | PG_W);
	pg_map(pd, WIN, WIN_PA, PG_P | PG_W);
	pg_on(pd);
	top_tests();
	pg_off();
}
