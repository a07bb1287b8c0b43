/*
 * aspace_taskgate.c - a CR3 load made by delivering an event through a task gate (SDM
 * Vol. 3A, 7.3 step 12: the new task's PDBR comes from its TSS) changes the address
 * space as much as a MOV to CR3 does: the new task's first instruction already
 * translates through the new directory (4.10.4.1). An engine that keeps mappings per
 * address space (a host process each) must hand over before the handler task runs,
 * whichever phase delivered the event: a fault raised by translated code, a hardware
 * interrupt taken in HLT or while code runs, or INT n.
 *
 * Two directories X and Y share the kernel and map one data page D at the same linear
 * address to different frames. The main task runs in X and reads and writes D, so
 * that its mappings hold X's frame. #DE (DIV by zero), #UD (UD2), IRQ 0 (the PIT, in
 * HLT and in a loop reading D) and INT 0x40 go through task gates to a handler task
 * whose TSS holds Y's directory; its first instructions read D (Y's frame) and write
 * it (into Y's frame, X's untouched); it fixes the cause of a fault and returns by
 * IRET through its back link (7.3, Table 7-2), and the main task, back in X, reads
 * D again. Each kind alone, repeated, then all kinds in turns. INT n is delivered by
 * the instruction's own emulation, the others before any guest code runs again (by a
 * dispatcher's exception or interrupt phase): it is the contrast. Checks: taskgate-*.
 */
#include "guest.h"
#include "irq.h"
#include "paging.h"

enum { S_TSS_MAIN = 3, S_TSS_TASK };
#define SEL(i) ((i) << 3)

#define D       0x60000000u     /* the data page: X's frame in X, Y's frame in Y */
#define D_STR   "0x60000000"
#define X_ID    0x58580000u     /* dword 0 of X's frame */
#define Y_ID    0x59590000u     /* dword 0 of Y's frame */
#define VEC_DE  0
#define VEC_UD  6
#define VEC_INT 0x40            /* INT n through a task gate */
#define ROUNDS  30
#define TURNS   50
#define PIT_COUNT 1193u         /* IRQ 0 about 1 ms after the PIT is set */
#define SPIN_MAX 50000000u      /* reads of D waiting for IRQ 0 */

static struct tss32 tss_main __attribute__((aligned(128)));
static struct tss32 tss_task __attribute__((aligned(128)));
static uint8_t task_stack[4096] __attribute__((aligned(16)));

static pte_t *X, *Y;
static volatile uint32_t *fx, *fy;      /* the two frames of D, through the identity map */

enum kind { K_DE, K_UD, K_IRQ_HLT, K_IRQ_RUN, K_INT, NKINDS };
static const char *const kind_name[NKINDS] = { "de", "ud", "irq-hlt", "irq-run", "int" };

/* ---- the handler task ---- */

/* Set by the main task before an event: what the handler writes into D, and why it
 * runs. Set by the handler: what it read, its CR3, the main task's saved EIP. */
volatile uint32_t h_tag, h_kind, h_d0, h_d1, h_cr3, h_runs, h_old_eip, irq_done;

/* After the accesses to D: fix what faulted in the main task (its saved registers are
 * in its TSS), acknowledge the interrupt. */
void task_body(void)
{
	h_runs++;
	h_old_eip = tss_main.eip;
	switch (h_kind) {
	case K_DE:
		tss_main.ecx = 1;               /* the DIV retries with a divisor */
		break;
	case K_UD:
		tss_main.eip += 2;              /* past the UD2 */
		break;
	case K_IRQ_HLT:
	case K_IRQ_RUN:
		irq_done = 1;
		pic_eoi(0);
		break;
	}
}

/* D read and written before anything that may leave translated code (the CR3 read,
 * CLTS, the call): an engine that hands over late runs these on the mappings of the
 * task it left. IRET with NT set returns to the main task, and the next event resumes
 * this one after its IRET: there too D comes first, in the block the event enters
 * (a jump back to the top would leave translated code first, once unchained). */
#define TASK_ACCESS_D \
	"movl " D_STR ", %eax\n\t" \
	"movl %eax, h_d0\n\t" \
	"movl " D_STR "+4, %eax\n\t" \
	"movl %eax, h_d1\n\t" \
	"movl h_tag, %eax\n\t" \
	"movl %eax, " D_STR "+4\n\t"
__asm__(".text\n"
	".globl task_entry\n"
	"task_entry:\n\t"
	TASK_ACCESS_D
	"task_rest:\n\t"
	"movl %cr3, %eax\n\t"
	"movl %eax, h_cr3\n\t"
	"clts\n\t"
	"call task_body\n\t"
	"iret\n\t"
	TASK_ACCESS_D
	"jmp task_rest\n");
extern char task_entry[];

static void setup_tasks(void)
{
	memset(&tss_main, 0, sizeof(tss_main));
	/* The CPU never saves CR3 into the old TSS but loads it on the return (7.3). */
	tss_main.cr3 = (uint32_t)X;
	tss_main.iomap = sizeof(struct tss32);
	tss_task_init(&tss_task, (uint32_t)Y, task_entry,
		      (uint32_t)(task_stack + sizeof(task_stack)));
	gdt_set(S_TSS_MAIN, (uint32_t)&tss_main, sizeof(struct tss32) - 1, 0x89, 0);
	gdt_set(S_TSS_TASK, (uint32_t)&tss_task, sizeof(struct tss32) - 1, 0x89, 0);
	__asm__ volatile("ltr %w0" :: "r"(SEL(S_TSS_MAIN)));
	idt_set(VEC_DE, 0, SEL(S_TSS_TASK), 0x85);      /* task gates */
	idt_set(VEC_UD, 0, SEL(S_TSS_TASK), 0x85);
	idt_set(IRQ_BASE, 0, SEL(S_TSS_TASK), 0x85);
	idt_set(VEC_INT, 0, SEL(S_TSS_TASK), 0x85);
}

/* IRQ 0 requests left pending from before (the BIOS's timer) delivered through an
 * interrupt gate, so that each IRQ event below is one PIT edge. Counter 0 is left
 * waiting for a count (mode 0, control word only: OUT low, no edge until an event
 * writes one): a count left running would end 55 ms later, and on a busy host that
 * edge, latched while IRQ 0 is masked, came before the first IRQ event's own (the
 * handler task ran twice in it). */
static void irq0_drain(void)
{
	irq_install();
	tb_start(2);
	pit_set(0, 0, 0xffff);          /* OUT low for 55 ms: no new edge meanwhile */
	pic_mask(0xfe, 0xff);
	sti();
	tb_wait_us(2000);
	cli();
	outb(PIT_CMD, 0x30);            /* counter 0, LSB then MSB, mode 0: no count yet */
	pic_mask(0xff, 0xff);
}

/* ---- the events, raised by the main task ---- */

extern char de_at[], ud_at[], int_next[], hlt_next[];

/* Whether the main task went on as it should after the handler task's IRET. */
static __attribute__((noinline)) int raise_de(void)
{
	uint32_t q;
	__asm__ volatile("xorl %%edx, %%edx\n\t"
			 "movl $6, %%eax\n\t"
			 "xorl %%ecx, %%ecx\n"
			 ASM_LABEL(de_at) "\tdivl %%ecx"
			 : "=a"(q) :: "ecx", "edx", "memory");
	return q == 6 && h_old_eip == (uint32_t)de_at;
}

static __attribute__((noinline)) int raise_ud(void)
{
	__asm__ volatile(ASM_LABEL(ud_at) "\tud2" ::: "memory");
	return h_old_eip == (uint32_t)ud_at;
}

static __attribute__((noinline)) int raise_int(void)
{
	__asm__ volatile("int $0x40\n" ASM_LABEL(int_next) "\tnop" ::: "memory");
	return h_old_eip == (uint32_t)int_next;
}

/* IRQ 0 while the main task is in HLT: IF is clear at each test of irq_done, and STI
 * holds the interrupt off until HLT (SDM Vol. 3A, 6.8.3), so none is missed. */
static __attribute__((noinline)) int irq_in_hlt(void)
{
	irq_done = 0;
	pit_set(0, 0, PIT_COUNT);
	pic_mask(0xfe, 0xff);
	while (!irq_done)
		__asm__ volatile("sti\n\thlt\n" ASM_LABEL(hlt_next) "\tcli" ::: "memory");
	pic_mask(0xff, 0xff);
	return h_old_eip == (uint32_t)hlt_next;
}

/* IRQ 0 while the main task reads D in a loop. */
static __attribute__((noinline)) int irq_in_loop(void)
{
	irq_done = 0;
	pit_set(0, 0, PIT_COUNT);
	pic_mask(0xfe, 0xff);
	uint32_t bad = 0;
	sti();
	for (uint32_t n = 0; n < SPIN_MAX && !irq_done; n++)
		bad |= pg_rd(D) ^ X_ID;
	cli();
	pic_mask(0xff, 0xff);
	return irq_done && !bad;
}

static int raise_event(int kind)
{
	switch (kind) {
	case K_DE:
		return raise_de();
	case K_UD:
		return raise_ud();
	case K_IRQ_HLT:
		return irq_in_hlt();
	case K_IRQ_RUN:
		return irq_in_loop();
	default:
		return raise_int();
	}
}

/* ---- one event and its checks ---- */

enum { F_RAN = 1, F_READS_Y = 2, F_WRITES_Y = 4, F_X_UNTOUCHED = 8, F_BACK_IN_X = 16 };

struct seen {
	uint32_t tag_x, tag_y, prev_y;          /* written by the main task, by the handler */
	uint32_t runs, cr3, d0, d1;             /* in the handler task */
	uint32_t fx1, fy1;                      /* the frames after */
	uint32_t cr3_back, d0_back, d1_back, fx2;       /* back in the main task */
	int resumed;
};

/* One event of this kind in round r: returns the F_* bits of what went wrong. */
static int event(int kind, uint32_t r, struct seen *s)
{
	s->tag_x = 0x78000000u | (uint32_t)kind << 16 | r;
	s->tag_y = 0x79000000u | (uint32_t)kind << 16 | r;
	s->prev_y = fy[1];
	/* X's mappings hold D, written (dirty) and read. */
	pg_wr(D + 4, s->tag_x);
	pg_rd(D);
	h_tag = s->tag_y;
	h_kind = kind;
	uint32_t runs = h_runs;
	h_old_eip = 0;
	s->resumed = raise_event(kind);
	__asm__ volatile("clts" ::: "memory");  /* the task switch set CR0.TS */
	s->runs = h_runs - runs;
	s->cr3 = h_cr3;
	s->d0 = h_d0;
	s->d1 = h_d1;
	s->cr3_back = read_cr3();
	s->d0_back = pg_rd(D);
	s->d1_back = pg_rd(D + 4);
	pg_wr(D + 8, s->tag_x);
	s->fx1 = fx[1];
	s->fy1 = fy[1];
	s->fx2 = fx[2];

	int bad = 0;
	if (s->runs != 1 || s->cr3 != (uint32_t)Y || !s->resumed)
		bad |= F_RAN;
	if (s->d0 != Y_ID || s->d1 != s->prev_y)
		bad |= F_READS_Y;
	if (s->fy1 != s->tag_y)
		bad |= F_WRITES_Y;
	if (s->fx1 != s->tag_x)
		bad |= F_X_UNTOUCHED;
	if (s->cr3_back != (uint32_t)X || s->d0_back != X_ID || s->d1_back != s->tag_x ||
	    s->fx2 != s->tag_x)
		bad |= F_BACK_IN_X;
	return bad;
}

/* "taskgate-<kind>-<what>" into buf (64 bytes). */
static void name_of(char *buf, int kind, const char *what)
{
	const char *parts[] = { "taskgate-", kind_name[kind], "-", what };
	int n = 0;
	for (unsigned k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
		for (const char *c = parts[k]; *c && n < 63; c++)
			buf[n++] = *c;
	buf[n] = 0;
}

/* The first event of a kind: one line per aspect. */
static void check_first(int kind)
{
	struct seen s;
	int bad = event(kind, 0, &s);
	char name[64];

	name_of(name, kind, "task-ran");
	if (bad & F_RAN)
		fail(name, "runs %u cr3 %08x want 1 %08x, main task went on %s", s.runs, s.cr3,
		     (uint32_t)Y, s.resumed ? "right" : "wrong");
	else
		pass(name);
	name_of(name, kind, "task-reads-y");
	if (bad & F_READS_Y)
		fail(name, "read %08x %08x want %08x %08x", s.d0, s.d1, Y_ID, s.prev_y);
	else
		pass(name);
	name_of(name, kind, "task-writes-y-frame");
	check_eq(name, s.fy1, s.tag_y);
	name_of(name, kind, "x-frame-untouched");
	check_eq(name, s.fx1, s.tag_x);
	name_of(name, kind, "back-in-x");
	if (bad & F_BACK_IN_X)
		fail(name, "cr3 %08x read %08x %08x, write landed %s; want %08x %08x %08x",
		     s.cr3_back, s.d0_back, s.d1_back, s.fx2 == s.tag_x ? "in X" : "elsewhere",
		     (uint32_t)X, X_ID, s.tag_x);
	else
		pass(name);
}

static void report_rounds(const char *name, int bad, int kind, uint32_t r, const struct seen *s)
{
	if (!bad) {
		pass(name);
		return;
	}
	fail(name, "round %u %s: what failed %x; task ran %u, read %08x, frames X %08x Y %08x, "
	     "back in X read %08x", r, kind_name[kind], bad, s->runs, s->d0, s->fx1, s->fy1,
	     s->d0_back);
}

/* The same kind ROUNDS times. */
static void check_repeated(int kind)
{
	struct seen s;
	int bad = 0;
	uint32_t r;
	for (r = 1; r <= ROUNDS && !bad; r++)
		bad = event(kind, r, &s);
	char name[64];
	name_of(name, kind, "repeated");
	report_rounds(name, bad, kind, r - 1, &s);
}

/* Every kind in turns, in an order that puts each after each other one. */
static void check_alternating(void)
{
	static const uint8_t order[] = { K_DE, K_IRQ_HLT, K_UD, K_INT, K_IRQ_RUN, K_DE, K_UD,
					 K_IRQ_RUN, K_INT, K_IRQ_HLT, K_DE, K_INT, K_UD,
					 K_IRQ_HLT, K_IRQ_RUN };
	struct seen s;
	int bad = 0, kind = 0;
	uint32_t t;
	for (t = 0; t < TURNS && !bad; t++) {
		kind = order[t % sizeof(order)];
		bad = event(kind, 0x100 + t, &s);
	}
	report_rounds("taskgate-alternating", bad, kind, t - 1, &s);
}

void test_main(void)
{
	guest_init();
	pic_init();
	irq0_drain();
	pg_init();
	X = pg_dir();
	Y = pg_dir();
	pg_identity(X, PG_P | PG_W);
	pg_share_identity(Y, X);
	fx = (volatile uint32_t *)PG_FRAME_A;
	fy = (volatile uint32_t *)(PG_FRAME_A + PAGE);
	for (int i = 0; i < 1024; i++) {
		fx[i] = X_ID + i;
		fy[i] = Y_ID + i;
	}
	pg_map(X, D, (uint32_t)fx, PG_P | PG_W);
	pg_map(Y, D, (uint32_t)fy, PG_P | PG_W);
	write_cr4(read_cr4() & ~CR4_PSE);
	pg_on(X);
	/* Each space its own turn first (and, in an engine, its own process), so that
	 * the first event already changes process. */
	for (int k = 0; k < 2; k++) {
		write_cr3((uint32_t)Y);
		pg_rd(D);
		write_cr3((uint32_t)X);
		pg_rd(D);
	}
	setup_tasks();

	for (int k = 0; k < NKINDS; k++)
		check_first(k);
	for (int k = 0; k < NKINDS; k++)
		check_repeated(k);
	check_alternating();

	pg_off();
}
