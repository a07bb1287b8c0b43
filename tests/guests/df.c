/*
 * df.c - the double fault (SDM Vol. 3A 6.15 "Interrupt 8", Table 6-5): a contributory
 * exception (#DE, #TS, #NP, #SS, #GP) raised while the CPU delivers another
 * contributory one becomes #DF with error code 0; a benign first exception (#UD) with
 * a contributory second is handled serially, the second delivered with EXT set.
 * Then #DF through a task gate (SDM 7.3, 7.4, Table 7-2): the CPU saves the faulting
 * task in its TSS, links the double-fault TSS back to it, marks it busy, sets NT and
 * CR0.TS, loads the new task's registers (CR3 only with paging on), and pushes the
 * error code on the new task's stack; IRET follows the link back, clears the busy
 * bit, and the old task retries the faulting instruction, here with its cause fixed.
 * Page-fault rows of Table 6-5 need paging and are not covered; triple faults are
 * tested elsewhere.
 */
#include "guest.h"

enum { S_NP_DATA = 3, S_DATA2, S_TSS_MAIN, S_TSS_DF, S_LDT };
#define SEL(i) ((i) << 3)
#define ACCESS(i) ((uint8_t)(gdt[i] >> 40))
#define RSEG(s) ({ uint16_t v_; __asm__ volatile("movw %%" #s ", %0" : "=rm"(v_)); v_; })
#define EFL_NT 0x4000u
#define EFL_RF 0x10000u
#define BAD_SEL 0x80            /* beyond the GDT limit: #GP(0x80) */

static void gate_present(int vec, int present)
{
	if (present)
		idt[vec] |= 1ull << 47;
	else
		idt[vec] &= ~(1ull << 47);
}

uint32_t esp_before;
#define SAVE_ESP "movl %%esp, esp_before\n\t"

extern char gp_fault[], np_fault[], ss_fault[], de_fault[], ud_fault[];

/* The SDM leaves CS:EIP saved for #DF undefined; processors and QEMU save the
 * instruction whose first fault could not be delivered, and so must trapeze to be
 * comparable. The frame (error code, EIP, CS, EFLAGS) ends where ESP was. */
#define CHECK_DF_FRAME(pfx, insn) do {                                  \
	check_eq(pfx "-eip", exc_last.eip, (uint32_t)(insn));           \
	check_eq(pfx "-frame-cs", exc_last.cs, SEL_CODE);               \
	check_eq(pfx "-frame-esp", exc_last.esp, esp_before);           \
} while (0)

static void test_df_gate(void)
{
	/* #GP (load beyond the GDT), its gate not present: #NP while delivering #GP. */
	gate_present(13, 0);
	EXPECT_EXC("gp-then-np-is-df", 8, 0,
		   __asm__ volatile(SAVE_ESP ASM_LABEL(gp_fault) "movw %w0, %%es" :: "r"(BAD_SEL) : "memory"));
	gate_present(13, 1);
	CHECK_DF_FRAME("gp-then-np-df", gp_fault);

	/* #NP (not-present data segment), its own gate not present. */
	gate_present(11, 0);
	EXPECT_EXC("np-then-np-is-df", 8, 0,
		   __asm__ volatile(SAVE_ESP ASM_LABEL(np_fault) "movw %w0, %%ds" :: "r"(SEL(S_NP_DATA)) : "memory"));
	gate_present(11, 1);
	CHECK_DF_FRAME("np-then-np-df", np_fault);

	/* #SS (not-present stack segment), its gate not present: #NP. */
	gate_present(12, 0);
	EXPECT_EXC("ss-then-np-is-df", 8, 0,
		   __asm__ volatile(SAVE_ESP ASM_LABEL(ss_fault) "movw %w0, %%ss" :: "r"(SEL(S_NP_DATA)) : "memory"));
	gate_present(12, 1);
	CHECK_DF_FRAME("ss-then-np-df", ss_fault);

	/* #DE through a gate of a type the IDT may not hold (a call gate): #GP. */
	uint64_t g0 = idt[0];
	idt_set(0, isr_stubs[0], SEL_CODE, 0x8c);
	EXPECT_EXC("de-then-gp-is-df", 8, 0,
		   __asm__ volatile("movl $1, %%eax; xorl %%edx, %%edx; xorl %%ecx, %%ecx\n\t" SAVE_ESP
				    ASM_LABEL(de_fault) "divl %%ecx" ::: "eax", "ecx", "edx", "memory"));
	idt[0] = g0;
	CHECK_DF_FRAME("de-then-gp-df", de_fault);

	/* Benign then contributory: serial. #UD's gate not present gives #NP itself, with
	 * error code vector << 3 | IDT | EXT (SDM 6.13: EXT, the fault arose delivering an
	 * earlier exception). */
	gate_present(6, 0);
	int v = EXC(__asm__ volatile(ASM_LABEL(ud_fault) "ud2"));
	gate_present(6, 1);
	uint32_t err = exc_last.error, eip = exc_last.eip;
	check_eq("ud-then-np-is-not-df", v, 11);
	check_eq("ud-then-np-eip", eip, (uint32_t)ud_fault);
	if (under_qemu())
		printf("SKIP ud-then-np-error-ext qemu-omits-ext-in-error-codes\n");
	else
		check_eq("ud-then-np-error-ext", err, 6 << 3 | 2 | 1);
	/* With the gates back, the same #GP is an ordinary #GP: nothing of the double
	 * fault (the CPU's "delivering an exception" state) is left over. */
	EXPECT_EXC("gp-after-df-is-plain-gp", 13, BAD_SEL,
		   __asm__ volatile("movw %w0, %%es" :: "r"(BAD_SEL) : "memory"));
}

/* ---- #DF through a task gate ---- */

static struct tss32 tss_main __attribute__((aligned(128)));
static struct tss32 tss_df __attribute__((aligned(128)));
static uint64_t ldt[2];
static uint8_t df_stack[4096] __attribute__((aligned(16)));
#define DF_STACK_TOP ((uint32_t)(df_stack + sizeof(df_stack)))

/* Registers as the double-fault task found them, stored by df_task_entry. */
enum { R_EAX, R_EBX, R_ECX, R_EDX, R_ESI, R_EDI, R_EBP, R_ESP, R_EFL, R_CR0, R_CR3, R_ERR,
       R_TR, R_LDTR, R_CS, R_SS, R_DS, R_ES, R_FS, R_GS, R_N };
uint32_t df_regs[R_N];

/* What the task saw, entry by entry (at most two). */
static struct df_seen {
	uint32_t r[R_N];
	uint16_t link;
	uint8_t acc_df, acc_main;
	uint32_t old_eip, old_esp, old_eax, old_eflags, old_es;
} seen[2];
static volatile int df_entries;

/* Runs inside the double-fault task: records, then fixes the cause by giving the old
 * task a valid selector in EAX for the `mov %ax, %es` it will retry. */
void df_task_body(void)
{
	if (df_entries < 2) {
		struct df_seen *s = &seen[df_entries];
		memcpy(s->r, df_regs, sizeof(df_regs));
		s->link = tss_df.link;
		s->acc_df = ACCESS(S_TSS_DF);
		s->acc_main = ACCESS(S_TSS_MAIN);
		s->old_eip = tss_main.eip;
		s->old_esp = tss_main.esp;
		s->old_eax = tss_main.eax;
		s->old_eflags = tss_main.eflags;
		s->old_es = tss_main.es;
	}
	df_entries++;
	tss_main.eax = SEL_DATA;
}

#define STORE_SEG(seg, slot) "xorl %eax, %eax\n\tmovw %" #seg ", %ax\n\tmovl %eax, df_regs+4*" #slot "\n\t"
__asm__(".text\n"
	".globl df_task_entry\n"
	"df_task_entry:\n\t"
	"movl %eax, df_regs+4*0\n\t"
	"movl %ebx, df_regs+4*1\n\t"
	"movl %ecx, df_regs+4*2\n\t"
	"movl %edx, df_regs+4*3\n\t"
	"movl %esi, df_regs+4*4\n\t"
	"movl %edi, df_regs+4*5\n\t"
	"movl %ebp, df_regs+4*6\n\t"
	"movl %esp, df_regs+4*7\n\t"
	"pushfl\n\t"
	"popl df_regs+4*8\n\t"
	"movl %cr0, %eax\n\t"
	"movl %eax, df_regs+4*9\n\t"
	"movl %cr3, %eax\n\t"
	"movl %eax, df_regs+4*10\n\t"
	"movl (%esp), %eax\n\t"
	"movl %eax, df_regs+4*11\n\t"
	"xorl %eax, %eax\n\tstr %ax\n\tmovl %eax, df_regs+4*12\n\t"
	"xorl %eax, %eax\n\tsldt %ax\n\tmovl %eax, df_regs+4*13\n\t"
	STORE_SEG(cs, 14) STORE_SEG(ss, 15) STORE_SEG(ds, 16)
	STORE_SEG(es, 17) STORE_SEG(fs, 18) STORE_SEG(gs, 19)
	"clts\n\t"
	"call df_task_body\n\t"
	"addl $4, %esp\n\t"             /* the #DF error code */
	"iret\n"
	".globl df_task_resumed\n"
	"df_task_resumed:\n\t"          /* where the next #DF resumes this task */
	"jmp df_task_entry\n");
extern char df_task_entry[], df_task_resumed[], dft_fault[];

static const uint32_t magic[7] = { 0xa1a1a1a1, 0xb2b2b2b2, 0xc3c3c3c3, 0xd4d4d4d4,
				   0x5e5e5e5e, 0xd1d1d1d1, 0xbbbbbbbb };

static void setup_tasks(uint32_t cr3)
{
	memset(&tss_main, 0, sizeof(tss_main));
	memset(&tss_df, 0, sizeof(tss_df));
	/* The CPU never writes CR3 or LDT into the outgoing TSS but loads them when
	 * returning to it, so the main task's copy must hold its own. */
	tss_main.cr3 = cr3;
	tss_main.iomap = sizeof(struct tss32);
	tss_df.eip = (uint32_t)df_task_entry;
	tss_df.eflags = 0x2;
	tss_df.eax = magic[0];
	tss_df.ebx = magic[1];
	tss_df.ecx = magic[2];
	tss_df.edx = magic[3];
	tss_df.esi = magic[4];
	tss_df.edi = magic[5];
	tss_df.ebp = magic[6];
	tss_df.esp = DF_STACK_TOP;
	tss_df.cs = SEL_CODE;
	tss_df.ss = tss_df.ds = tss_df.es = SEL_DATA;
	tss_df.fs = tss_df.gs = SEL(S_DATA2);
	tss_df.ldt = SEL(S_LDT);
	tss_df.cr3 = 0x00fed000;        /* paging is off: must not reach CR3 */
	tss_df.iomap = sizeof(struct tss32);
	ldt[1] = gdt_desc(0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_TSS_MAIN, (uint32_t)&tss_main, sizeof(struct tss32) - 1, 0x89, 0);
	gdt_set(S_TSS_DF, (uint32_t)&tss_df, sizeof(struct tss32) - 1, 0x89, 0);
	gdt_set(S_LDT, (uint32_t)ldt, sizeof(ldt) - 1, 0x82, 0);
	__asm__ volatile("ltr %w0" :: "r"(SEL(S_TSS_MAIN)));
	idt_set(8, 0, SEL(S_TSS_DF), 0x85);     /* task gate */
}

/* #GP with its gate absent, escalated to #DF through the task gate; returns the
 * state the main task resumed with. */
static uint32_t pre_flags, esp_at, eax_after, es_after;
static int raise_df(void)
{
	eax_after = es_after = 0;
	gate_present(13, 0);
	int v = EXC(__asm__ volatile("pushfl\n\tpopl %[pre]\n\t"
				     "movl %%esp, %[esp]\n\t"
				     "movl %[bad], %%eax\n"
				     ASM_LABEL(dft_fault) "movw %%ax, %%es\n\t"
				     "movl %%eax, %[eax]\n\t"
				     "xorl %%eax, %%eax\n\t"
				     "movw %%es, %%ax\n\t"
				     "movl %%eax, %[es]"
				     : [pre] "=m"(pre_flags), [esp] "=m"(esp_at), [eax] "=m"(eax_after),
				       [es] "=m"(es_after)
				     : [bad] "i"(BAD_SEL) : "eax", "memory"));
	gate_present(13, 1);
	return v;
}

static void test_df_task(void)
{
	uint32_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint32_t cr0 = read_cr0() & ~8u;
	write_cr0(cr0);
	setup_tasks(cr3);

	int v = raise_df();
	struct df_seen *s = &seen[0];
	check_eq("df-task-no-other-exception", v, -1);
	check_eq("df-task-entered-once", df_entries, 1);
	if (df_entries < 1)
		goto out;
	check_eq("df-task-error-code-on-new-stack", s->r[R_ERR], 0);
	check_eq("df-task-esp-below-error-code", s->r[R_ESP], DF_STACK_TOP - 4);
	check_eq("df-task-eflags-tss-plus-nt", s->r[R_EFL], 0x2 | EFL_NT);
	int gprs = 1;
	for (int k = 0; k < 7; k++)
		gprs &= s->r[R_EAX + k] == magic[k];
	check(gprs, "df-task-gprs-from-tss");
	check(s->r[R_CS] == SEL_CODE && s->r[R_SS] == SEL_DATA && s->r[R_DS] == SEL_DATA &&
	      s->r[R_ES] == SEL_DATA && s->r[R_FS] == SEL(S_DATA2) && s->r[R_GS] == SEL(S_DATA2),
	      "df-task-segments-from-tss");
	check_eq("df-task-tr", s->r[R_TR], SEL(S_TSS_DF));
	check_eq("df-task-ldtr-from-tss", s->r[R_LDTR], SEL(S_LDT));
	check_eq("df-task-cr0-ts-set", s->r[R_CR0] & 8, 8);
	/* SDM 7.3 step 12: without paging the PDBR is read from the TSS, not loaded. */
	check_eq("df-task-cr3-kept-without-paging", s->r[R_CR3], cr3);
	check_eq("df-task-back-link", s->link, SEL(S_TSS_MAIN));
	check_eq("df-task-tss-busy", s->acc_df, 0x8b);
	check_eq("df-old-tss-stays-busy", s->acc_main, 0x8b);
	/* The old task's saved state is the faulting instruction's (see check_df_frame). */
	check_eq("df-old-tss-eip-at-fault", s->old_eip, (uint32_t)dft_fault);
	check_eq("df-old-tss-esp", s->old_esp, esp_at);
	check_eq("df-old-tss-eax", s->old_eax, BAD_SEL);
	check_eq("df-old-tss-eflags", s->old_eflags & ~EFL_RF, pre_flags);
	check_eq("df-old-tss-es", s->old_es, SEL_DATA);

	/* Back in the main task through IRET and the link. */
	check(eax_after == SEL_DATA && es_after == SEL_DATA, "iret-task-return-retries-fixed-insn");
	uint16_t tr, ldtr;
	__asm__ volatile("str %0; sldt %1" : "=r"(tr), "=r"(ldtr));
	check_eq("iret-task-return-tr", tr, SEL(S_TSS_MAIN));
	check_eq("iret-task-return-ldtr-from-old-tss", ldtr, 0);
	check_eq("iret-task-return-nt-clear", read_eflags() & EFL_NT, 0);
	check_eq("iret-task-return-cr0-ts-set", read_cr0() & 8, 8);
	check(RSEG(fs) == SEL_DATA && RSEG(gs) == SEL_DATA, "iret-task-return-fs-gs");
	check_eq("iret-clears-df-tss-busy", ACCESS(S_TSS_DF), 0x89);
	check_eq("iret-keeps-old-tss-busy", ACCESS(S_TSS_MAIN), 0x8b);
	check_eq("iret-saves-df-task-eip", tss_df.eip, (uint32_t)df_task_resumed);
	/* Table 7-2: an IRET task switch clears NT in the EFLAGS image of the old task. */
	check_eq("iret-clears-nt-in-saved-eflags", tss_df.eflags & EFL_NT, 0);

	/* The task runs again from where its IRET left it, with a fresh link. */
	write_cr0(cr0);
	v = raise_df();
	check(v == -1 && df_entries == 2, "df-task-reentered");
	check_eq("df-task-reentry-esp", seen[1].r[R_ESP], DF_STACK_TOP - 4);
	check_eq("df-task-reentry-back-link", seen[1].link, SEL(S_TSS_MAIN));
	check_eq("df-task-reentry-eflags-nt", seen[1].r[R_EFL] & EFL_NT, EFL_NT);
	check(eax_after == SEL_DATA && es_after == SEL_DATA, "df-task-reentry-return");
out:
	write_cr0(cr0);
	idt_set(8, isr_stubs[8], SEL_CODE, 0x8e);
}

void test_main(void)
{
	guest_init();
	gdt_set(S_NP_DATA, 0, 0xfffff, ACC_DATA & 0x7f, GRAN_4K32);
	gdt_set(S_DATA2, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	test_df_gate();
	test_df_task();
}
