/*
 * nano_paging.c - paging for the nanobenchmark guest (nano_paging.h): the page tables of
 * the four paging ops, the #PF handler of pgfault, and the checks that each op did what
 * it claims. 32-bit paging, SDM Vol. 3A, 4.3; tests/guests/paging.h has the same ideas
 * for the guest tests.
 *
 * Linear layout (one kernel directory; ctxsw adds two that differ in one table):
 *   0 .. 4 MiB          the kernel, 1:1, one 4 MiB page (CR4.PSE), global (CR4.PGE), as
 *                       an OS maps its kernel: CR3 loads keep it
 *   PF_LIN, 16 MiB      pgfault: PTEs not present until the #PF handler installs them
 *   PM_LIN, 1 page      ptemod: flips between frames PM_A and PM_B
 *   CS_LIN, 1 page      ctxsw: frame CS_A in directory A, CS_B in directory B
 *   T_LIN, 64 MiB       touch64m: present PTEs, A and D clear until the first write
 * The frames are RAM between 8 and 96 MiB (nano.sh gives the guest 256 MiB). They are
 * written once with paging off before paging goes on, so that neither engine's host has
 * to allocate a page inside the timing: what is timed is the guest mapping, not the first
 * use of host memory. Every user mapping is supervisor (the ops run at CPL 0).
 */
#include "guest.h"
#include "nano_paging.h"

/* Entry bits, SDM Vol. 3A, Tables 4-4 to 4-6. No u suffix: the #PF handler's asm uses
 * some of these. */
#define PG_P    0x001
#define PG_W    0x002
#define PG_A    0x020
#define PG_D    0x040
#define PG_PS   0x080
#define PG_G    0x100
#define CR0_PG  0x80000000u
#define CR4_PSE 0x00000010u
#define CR4_PGE 0x00000080u
#define PAGE    4096

#define KERNEL_END  0x00400000
#define PF_LIN      0x04000000
#define PF_PAGES    4096                 /* pgfault's round: nano.h */
#define PF_PHYS     0x01000000
#define PM_LIN      0x08000000
#define PM_A        0x00800000
#define PM_B        0x00801000
#define CS_LIN      0x0c000000
#define CS_A        0x00802000
#define CS_B        0x00803000
#define T_LIN       0x10000000
#define T_PAGES     16384                /* 64 MiB */
#define T_PHYS      0x02000000
#define MARK_A      1u                   /* the word at frames PM_A and CS_A */
#define MARK_B      0x10000u             /* ... at PM_B and CS_B */

#define XSTR(x) STR(x)
#define STR(x) #x

typedef volatile uint32_t pte_t;
#define ALIGNED __attribute__((aligned(PAGE)))

static pte_t pd_main[1024] ALIGNED, pd_a[1024] ALIGNED, pd_b[1024] ALIGNED;
pte_t nano_pf_pt[PF_PAGES] ALIGNED;     /* the #PF handler writes these */
static pte_t pt_pm[1024] ALIGNED, pt_cs_a[1024] ALIGNED, pt_cs_b[1024] ALIGNED;
static pte_t pt_touch[T_PAGES] ALIGNED;
volatile uint32_t nano_pf_count;        /* #PFs the handler served */
static int paging_on;

/* pgfault's #PF handler, as short as an OS's anonymous-fault path can be: the frame
 * of linear page PF_LIN + i is PF_PHYS + i (precomputed); install the PTE (accessed and
 * dirty, as Linux installs the page of a write fault), count, IRET
 * to retry the write. A not-present PTE that becomes present needs no INVLPG (SDM Vol.
 * 3A, 4.10.4.3). A #PF anywhere else goes to the library's stub: FAIL and exit. */
void nano_pf_entry(void);
__asm__(".text\n"
	".p2align 4\n"
	".globl nano_pf_entry\n"
	"nano_pf_entry:\n\t"            /* the CPU pushed an error code */
	"pushl %eax\n\t"
	"pushl %ecx\n\t"
	"movl %cr2, %eax\n\t"
	"subl $" XSTR(PF_LIN) ", %eax\n\t"
	"cmpl $" XSTR(PF_PAGES) " * " XSTR(PAGE) ", %eax\n\t"
	"jae 1f\n\t"
	"shrl $12, %eax\n\t"
	"leal nano_pf_pt(,%eax,4), %ecx\n\t"
	"shll $12, %eax\n\t"
	"addl $(" XSTR(PF_PHYS) " | " XSTR(PG_P) " | " XSTR(PG_W) " | " XSTR(PG_A) " | " XSTR(PG_D) "), %eax\n\t"
	"movl %eax, (%ecx)\n\t"
	"incl nano_pf_count\n\t"
	"popl %ecx\n\t"
	"popl %eax\n\t"
	"addl $4, %esp\n\t"
	"iret\n"
	"1:\n\t"
	"popl %ecx\n\t"
	"popl %eax\n\t"
	"jmp *isr_stubs + 4 * 14\n");

static inline void write_cr3(uint32_t v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }

/* Point the PDEs of [lin, lin + pages * 4 KiB) at the consecutive tables pt. */
static void map_tables(pte_t *pd, uint32_t lin, pte_t *pt, uint32_t pages)
{
	for (uint32_t i = 0; i < pages; i += 1024)
		pd[(lin >> 22) + i / 1024] = (uint32_t)&pt[i] | PG_P | PG_W;
}

/* One write per frame of [pa, pa + pages * 4 KiB), with paging off. */
static void warm(uint32_t pa, uint32_t pages)
{
	for (uint32_t i = 0; i < pages; i++)
		*(volatile uint32_t *)(pa + i * PAGE) = 0;
}

/* The first paging op: the frames warmed and marked, the tables built, paging on. */
static void paging_init(void)
{
	uint32_t end;
	__asm__("movl $__bss_end, %0" : "=r"(end));
	if (end > KERNEL_END) {
		fail("nano-paging", "the kernel ends at %08x, above %08x", end, KERNEL_END);
		guest_finish();
	}
	warm(PF_PHYS, PF_PAGES);
	warm(T_PHYS, T_PAGES);
	*(volatile uint32_t *)PM_A = MARK_A;
	*(volatile uint32_t *)PM_B = MARK_B;
	*(volatile uint32_t *)CS_A = MARK_A;
	*(volatile uint32_t *)CS_B = MARK_B;

	pd_main[0] = 0 | PG_P | PG_W | PG_PS | PG_G;
	map_tables(pd_main, PF_LIN, nano_pf_pt, PF_PAGES);
	map_tables(pd_main, PM_LIN, pt_pm, 1);
	map_tables(pd_main, T_LIN, pt_touch, T_PAGES);
	for (int i = 0; i < 1024; i++)
		pd_a[i] = pd_b[i] = pd_main[i];
	map_tables(pd_a, CS_LIN, pt_cs_a, 1);
	map_tables(pd_b, CS_LIN, pt_cs_b, 1);
	pt_cs_a[(CS_LIN >> 12) & 0x3ff] = CS_A | PG_P | PG_W;
	pt_cs_b[(CS_LIN >> 12) & 0x3ff] = CS_B | PG_P | PG_W;

	idt_set(14, (uint32_t)nano_pf_entry, SEL_CODE, 0x8e);
	write_cr4(read_cr4() | CR4_PSE | CR4_PGE);
	write_cr3((uint32_t)pd_main);
	write_cr0(read_cr0() | CR0_PG);
	paging_on = 1;
}

void nano_pg_prepare(enum nano_op op, uint32_t k)
{
	if (op != NANO_OP_pgfault && op != NANO_OP_ptemod && op != NANO_OP_ctxsw &&
	    op != NANO_OP_touch64m)
		return;
	if (!paging_on)
		paging_init();
	switch (op) {
	case NANO_OP_pgfault:
		memset((void *)nano_pf_pt, 0, sizeof(nano_pf_pt));
		write_cr3((uint32_t)pd_main);   /* drop the last round's pages */
		nano_arg_base = PF_LIN;
		break;
	case NANO_OP_ptemod:
		/* With A set, as Linux writes its PTEs (the A of a PTE an OS writes clear
		 * must be set by the next access: a host fault in trapeze). */
		pt_pm[(PM_LIN >> 12) & 0x3ff] = PM_A | PG_P | PG_W | PG_A;
		write_cr3((uint32_t)pd_main);
		nano_arg_pte = (uint32_t)&pt_pm[(PM_LIN >> 12) & 0x3ff];
		nano_arg_lin = PM_LIN;
		nano_arg_xor = PM_A ^ PM_B;
		break;
	case NANO_OP_ctxsw:
		nano_arg_cr3 = (uint32_t)pd_a;
		nano_arg_xor = (uint32_t)pd_a ^ (uint32_t)pd_b;
		nano_arg_lin = CS_LIN;
		break;
	case NANO_OP_touch64m:
		for (uint32_t i = 0; i < T_PAGES; i++)
			pt_touch[i] = i < k ? (T_PHYS + i * PAGE) | PG_P | PG_W : 0;
		write_cr3((uint32_t)pd_main);
		nano_arg_base = T_LIN;
		break;
	default:
		break;
	}
}

/* The sum of n reads alternating between marks, first first. */
static uint32_t alternating(uint32_t n, uint32_t first, uint32_t second)
{
	return (n + 1) / 2 * first + n / 2 * second;
}

int nano_pg_check(enum nano_op op, uint32_t n)
{
	const char *name = 0;
	uint32_t got = 0, want = 0;

	switch (op) {
	case NANO_OP_pgfault:
		name = "nano-pgfault";
		got = nano_pf_count;
		want = n;
		break;
	case NANO_OP_ptemod:            /* the first INVLPG maps frame B */
		name = "nano-ptemod";
		got = nano_arg_sum;
		want = alternating(n, MARK_B, MARK_A);
		break;
	case NANO_OP_ctxsw:             /* the first CR3 load is directory A's */
		name = "nano-ctxsw";
		got = nano_arg_sum;
		want = alternating(n, MARK_A, MARK_B);
		write_cr3((uint32_t)pd_main);
		break;
	case NANO_OP_touch64m: {        /* every page of the last round written once */
		uint32_t last = (n - 1) % T_PAGES + 1;
		name = "nano-touch64m";
		want = last;
		for (uint32_t i = 0; i < last; i++)
			got += (pt_touch[i] & (PG_A | PG_D)) == (PG_A | PG_D);
		break;
	}
	default:
		return 0;
	}
	if (got == want)
		return 0;
	fail(name, "got %u want %u", got, want);
	return -1;
}
