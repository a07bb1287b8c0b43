/*
 * task_step.c - single-stepping across a task switch (SDM Vol. 3, 18.3.1.4): INT n
 * through a task gate with TF set raises no single-step trap of its own; the new task
 * takes TF from its TSS (clear here: nothing traps in it) while the old task's TSS
 * keeps TF as it was (the INT n pseudocode clears TF only for interrupt and trap
 * gates); the IRET back restores it, and the instruction after the INT traps.
 * A TSS whose T flag is set raises #DB with DR6.BT before the new task's first
 * instruction (18.3.1.5).
 */
#include "guest.h"

enum { S_TSS_MAIN = 3, S_TSS_TASK };
#define SEL(i) ((i) << 3)

static struct tss32 tss_main __attribute__((aligned(128)));
static struct tss32 tss_task __attribute__((aligned(128)));
static uint8_t task_stack[4096] __attribute__((aligned(16)));

#define MAX_TRAPS 16
static volatile uint32_t trap_eip[MAX_TRAPS], trap_dr6[MAX_TRAPS], traps;
volatile uint32_t task_runs, task_eflags, old_saved_eflags;

static void hook_db(struct frame *f)
{
	uint32_t dr6;
	__asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
	__asm__ volatile("mov %0, %%dr6" :: "r"(0));
	if (traps < MAX_TRAPS) {
		trap_eip[traps] = f->eip;
		trap_dr6[traps] = dr6;
	}
	traps++;
	if (traps > 40)
		f->eflags &= ~EFL_TF;   /* a runaway: stop stepping */
}

/* The handler task: counts its runs, notes its own EFLAGS and the old task's saved
 * ones, and returns through its back link. */
__asm__(".text\n"
	".globl task_entry\n"
	"task_entry:\n\t"
	"incl task_runs\n\t"
	"pushfl\n\t"
	"popl task_eflags\n\t"
	"movl tss_main+36, %eax\n\t"    /* the old task's saved EFLAGS */
	"movl %eax, old_saved_eflags\n\t"
	"iret\n\t"
	"jmp task_entry\n");
extern char task_entry[];

extern char t_int[], t_after[], t_next[];

static void setup_tasks(void)
{
	uint32_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	memset(&tss_main, 0, sizeof(tss_main));
	tss_main.cr3 = cr3;
	tss_main.iomap = sizeof(struct tss32);
	tss_task_init(&tss_task, cr3, task_entry, (uint32_t)(task_stack + sizeof(task_stack)));
	gdt_set(S_TSS_MAIN, (uint32_t)&tss_main, sizeof(struct tss32) - 1, 0x89, 0);
	gdt_set(S_TSS_TASK, (uint32_t)&tss_task, sizeof(struct tss32) - 1, 0x89, 0);
	__asm__ volatile("ltr %w0" :: "r"(SEL(S_TSS_MAIN)));
	idt_set(0x31, 0, SEL(S_TSS_TASK), 0x85);        /* a task gate */
}

static void run_int_task(void)
{
	__asm__ volatile("pushf\n\t"
			 "orl $0x100, (%%esp)\n\t"
			 "popf\n"
			 ASM_LABEL(t_int) "\tint $0x31\n"
			 ASM_LABEL(t_after) "\tnop\n"
			 ASM_LABEL(t_next) "\tpushf\n\t"
			 "andl $~0x100, (%%esp)\n\t"
			 "popf\n"
			 ::: "memory", "cc");
}

void test_main(void)
{
	guest_init();
	exc_set_hook(1, hook_db);
	setup_tasks();

	run_int_task();
	check_eq("int-task-ran", task_runs, 1);
	check_eq("int-task-eflags-from-tss", task_eflags & EFL_TF, 0);
	check_eq("int-task-old-tss-keeps-tf", old_saved_eflags & EFL_TF, EFL_TF);
	/* No trap for the INT nor inside the task; after the IRET back: the NOP traps,
	 * then PUSHF, AND and the POPF that clears TF. */
	check_eq("int-task-trap-count", traps, 4);
	check_eq("int-task-first-trap-after-nop", trap_eip[0], (uint32_t)t_next);
	check_eq("int-task-trap-bs", trap_dr6[0] & 0x4000, 0x4000);

	/* The T flag: #DB before the task's first instruction, DR6.BT, no BS. */
	traps = 0;
	tss_task.trap = 1;
	uint32_t first = tss_task.eip;  /* where its IRET left it: its JMP back */
	__asm__ volatile("int $0x31" ::: "memory");
	tss_task.trap = 0;
	check_eq("tss-t-flag-task-ran", task_runs, 2);
	/* QEMU 7.2 ignores the T flag. */
	check_eq_sdm("tss-t-flag-traps", traps, 1, "qemu-ignores-tss-t-flag");
	check_eq_sdm("tss-t-flag-trap-eip", trap_eip[0], first,
		     "qemu-ignores-tss-t-flag");
	check_eq_sdm("tss-t-flag-dr6-bt", trap_dr6[0] & 0xc000, 0x8000, "qemu-ignores-tss-t-flag");
	guest_finish();
}
