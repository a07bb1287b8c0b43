/*
 * rings.c - CPL 3 (SDM Vol. 3A, chapter 5 "Protection", 6.12 "Exception and Interrupt
 * Handling"): entering ring 3 by IRET; INT 0x80 from ring 3 onto the TSS's SS0:ESP0
 * and IRET back; leaving ring 3 through a gate that never returns; every privileged
 * instruction #GP(0) at CPL 3; INT n through DPL-0 gates, segment loads and far
 * transfers to ring 0 refused; the sensitive unprivileged instructions showing the
 * kernel's state; IOPL 3 and the TSS I/O permission bitmap; exceptions at CPL 3
 * delivered on the ring-0 stack.
 *
 * The ring-3 routines are assembly (u_*): they record what they see in u_out[] and
 * return; the kernel side checks it after user_run() (ring.h).
 */
#include "guest.h"
#include "ring.h"

enum { S_CONF = RING_FREE, S_LDT, S_TSS2 };
#define SEL(i) ((i) << 3)
#define SEL_CONF SEL(S_CONF)    /* 0x38: conforming readable code, DPL 0 */
#define SEL_LDT  SEL(S_LDT)     /* 0x40 */
#define SEL_TSS2 SEL(S_TSS2)    /* 0x48: a second TSS, available */

#define FL_BASE 0x2u            /* EFLAGS bit 1 reads as 1 */
#define IOPL(n) ((uint32_t)(n) << 12)
#define FL_USER (FL_BASE | EFL_IF)
#define CR4_TSD 0x4u
#define CR4_PCE 0x100u

/* Kernel state the ring-3 routines use as operands (so that an instruction that
 * wrongly runs writes back what is already there), and what they saw. */
struct dtr k_gdtr, k_idtr;
uint32_t k_cr0, k_cr3, k_cr4;
uint8_t u_buf[16];
uint32_t u_out[16];
uint32_t u_sys_esp, u_fault_esp, u_resumed;
static uint64_t ldt[2];
static struct tss32 tss2;

static void name_cat(char *d, const char *a, const char *b)
{
	while (*a)
		*d++ = *a++;
	while (*b)
		*d++ = *b++;
	*d = 0;
}

/* ---- into ring 3 by IRET, out by INT 0x81 ---- */

/* u_enter(arg): ESP, EFLAGS, CS, SS, DS, GS as ring 3 starts; returns ~arg. */
extern char u_enter[];
__asm__(".text\nu_enter:\n\t"
	"movl %esp, u_out\n\t"
	"pushfl\n\t"
	"popl u_out+4\n\t"
	"movl %cs, %eax\n\tmovl %eax, u_out+8\n\t"
	"movl %ss, %eax\n\tmovl %eax, u_out+12\n\t"
	"movl %ds, %eax\n\tmovl %eax, u_out+16\n\t"
	"movl %gs, %eax\n\tmovl %eax, u_out+20\n\t"
	"movl 4(%esp), %eax\n\t"
	"notl %eax\n\t"
	"ret\n");

static void test_enter(void)
{
	uint32_t fl = FL_USER | EFL_CF;
	uint32_t r = user_run((uint32_t)u_enter, 0x1234abcd, fl);

	/* IRET to an outer level: SDM Vol. 2A, IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL. */
	check_eq("ring3-routine-result", r, ~0x1234abcdu);
	check_eq("iret-cs-rpl3", u_out[2] & 3, 3);
	check_eq("iret-cs", u_out[2] & 0xffff, SEL_UCODE);
	check_eq("iret-ss", u_out[3] & 0xffff, SEL_UDATA);
	check_eq("iret-esp", u_out[0], USER_TOP - 8);
	check_eq("iret-eflags", u_out[1], fl);
	check_eq("iret-keeps-dpl3-ds", u_out[4] & 0xffff, SEL_UDATA);
	check_eq("iret-keeps-dpl3-gs", u_out[5] & 0xffff, SEL_UDATA);

	/* The INT 0x81 that ended the run went through a DPL-3 interrupt gate to ring 0:
	 * SS0:ESP0 from the TSS, then SS, ESP, EFLAGS, CS, EIP of ring 3 pushed there
	 * (SDM Vol. 3A, 6.12.1, Figure 6-4). */
	check_eq("exit-gate-cs", read_cs(), SEL_CODE);
	check_eq("exit-frame-eip", ring_exit.eip, (uint32_t)ring_exit_ret);
	check_eq("exit-frame-cs", ring_exit.cs & 0xffff, SEL_UCODE);
	check_eq("exit-frame-eflags", ring_exit.eflags, fl);
	check_eq("exit-frame-esp", ring_exit.esp, USER_TOP - 4);
	check_eq("exit-frame-ss", ring_exit.ss & 0xffff, SEL_UDATA);
	check_eq("exit-frame-at-esp0", ring_exit.frame, RING0_TOP - 20);
	check_eq("exit-handler-ss-is-ss0", ring_exit.ss0 & 0xffff, SEL_KSTACK);
}

/* ---- INT 0x80 from ring 3 and IRET back ---- */

/* u_sys: known registers and flags, INT 0x80, then everything as it came back. */
extern char u_sys[], u_sys_after[];
__asm__(".text\nu_sys:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl $0x12345678, %eax\n\t"
	"movl $0x11111111, %ebx\n\t"
	"movl $0x22222222, %ecx\n\t"
	"movl $0x33333333, %edx\n\t"
	"movl $0x44444444, %esi\n\t"
	"movl $0x55555555, %edi\n\t"
	"movl $0x66666666, %ebp\n\t"
	"pushl $0x8d5\n\tpopfl\n\t"
	"movl %esp, u_sys_esp\n\t"
	"int $0x80\n"
	"u_sys_after:\n\t"
	"pushfl\n\tpopl u_out+0\n\t"
	"movl %eax, u_out+4\n\t"
	"movl %ebx, u_out+8\n\t"
	"movl %ecx, u_out+12\n\t"
	"movl %edx, u_out+16\n\t"
	"movl %esi, u_out+20\n\t"
	"movl %edi, u_out+24\n\t"
	"movl %ebp, u_out+28\n\t"
	"movl %esp, u_out+32\n\t"
	"movl %ds, %eax\n\tmovl %eax, u_out+36\n\t"
	"movl %es, %eax\n\tmovl %eax, u_out+40\n\t"
	"movl %fs, %eax\n\tmovl %eax, u_out+44\n\t"
	"movl %gs, %eax\n\tmovl %eax, u_out+48\n\t"
	"movl %cs, %eax\n\tmovl %eax, u_out+52\n\t"
	"movl %ss, %eax\n\tmovl %eax, u_out+56\n\t"
	"movl $0x23, %eax\n\tmovl %eax, %es\n\tmovl %eax, %fs\n\tmovl %eax, %gs\n\t"
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\t"
	"ret\n");

static struct {
	uint32_t eip, cs, eflags, esp, ss, top, ss_in, cs_in, esp_in;
	uint32_t regs[7];       /* EAX EBX ECX EDX ESI EDI EBP as the handler got them */
} sys;

static void sys_hook(struct frame *f)
{
	struct uframe *u = (struct uframe *)f;
	uint32_t esp;
	__asm__ volatile("movl %%esp, %0" : "=r"(esp));
	sys.eip = f->eip;
	sys.cs = f->cs & 0xffff;
	sys.eflags = f->eflags;
	sys.esp = u->esp;
	sys.ss = u->ss & 0xffff;
	sys.top = (uint32_t)(u + 1);
	sys.ss_in = RSEG(ss);
	sys.cs_in = read_cs();
	sys.esp_in = esp;
	sys.regs[0] = f->eax;
	sys.regs[1] = f->ebx;
	sys.regs[2] = f->ecx;
	sys.regs[3] = f->edx;
	sys.regs[4] = f->esi;
	sys.regs[5] = f->edi;
	sys.regs[6] = f->ebp;
	f->eax = ~f->eax;
	/* Reloaded by the stub before its IRET to ring 3, which must make ES (DPL-0
	 * data) and FS (DPL-0 non-conforming code) null and keep GS (conforming code):
	 * SDM Vol. 2A, IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL. */
	f->es = SEL_DATA;
	f->fs = SEL_CODE;
	f->gs = SEL_CONF;
}

static void test_int80(void)
{
	static const char *const keeps[] = { "int80-keeps-ebx", "int80-keeps-ecx", "int80-keeps-edx",
					     "int80-keeps-esi", "int80-keeps-edi", "int80-keeps-ebp" };
	static const uint32_t vals[] = { 0x12345678, 0x11111111, 0x22222222, 0x33333333,
					 0x44444444, 0x55555555, 0x66666666 };
	const uint32_t fl = FL_USER | 0x8d5;    /* every arithmetic flag, IF kept by POPF */

	idt_set(0x80, isr_stubs[0x80], SEL_CODE, 0xee);
	exc_set_hook(0x80, sys_hook);
	exc_clear();
	user_run((uint32_t)u_sys, 0, FL_USER);
	exc_set_hook(0x80, 0);
	idt_set(0x80, isr_stubs[0x80], SEL_CODE, 0x8e);

	check_eq("int80-cpl3-vector", exc_last.vector, 0x80);
	check_eq("int80-frame-eip", sys.eip, (uint32_t)u_sys_after);
	check_eq("int80-frame-cs", sys.cs, SEL_UCODE);
	check_eq("int80-frame-eflags", sys.eflags, fl);
	check_eq("int80-frame-user-esp", sys.esp, u_sys_esp);
	check_eq("int80-frame-user-ss", sys.ss, SEL_UDATA);
	check_eq("int80-frame-at-esp0", sys.top, RING0_TOP);
	check(sys.esp_in >= (uint32_t)ring0_stack && sys.esp_in < RING0_TOP,
	      "int80-handler-esp-in-ring0-stack");
	check_eq("int80-handler-ss-is-ss0", sys.ss_in, SEL_KSTACK);
	check_eq("int80-handler-cs", sys.cs_in, SEL_CODE);
	check((exc_last.handler_eflags & EFL_IF) == 0, "int80-gate-clears-if");
	int same = 1;
	for (int i = 0; i < 7; i++)
		same &= sys.regs[i] == vals[i];
	check(same, "int80-handler-sees-registers");

	check_eq("int80-result-eax", u_out[1], ~0x12345678u);
	for (int i = 0; i < 6; i++)
		check_eq(keeps[i], u_out[2 + i], vals[1 + i]);
	check_eq("int80-iret-esp", u_out[8], u_sys_esp);
	check_eq("int80-iret-eflags", u_out[0], fl);
	check_eq("int80-iret-cs", u_out[13] & 0xffff, SEL_UCODE);
	check_eq("int80-iret-ss", u_out[14] & 0xffff, SEL_UDATA);
	check_eq("iret-outer-keeps-dpl3-ds", u_out[9] & 0xffff, SEL_UDATA);
	check_eq("iret-outer-nulls-dpl0-data-es", u_out[10] & 0xffff, 0);
	check_eq("iret-outer-nulls-dpl0-code-fs", u_out[11] & 0xffff, 0);
	check_eq("iret-outer-keeps-conforming-gs", u_out[12] & 0xffff, SEL_CONF);
}

/* ---- privileged instructions: #GP(0) at CPL 3 (SDM Vol. 3A, 5.9) ---- */

USER_INSN(cli, "", "cli");
USER_INSN(sti, "", "sti");
USER_INSN(hlt, "", "hlt");
USER_INSN(in_imm, "", "inb $0x80, %al");
USER_INSN(in_dx, "movw $0x3fd, %dx", "inb %dx, %al");
USER_INSN(inl_dx, "movw $0x80, %dx", "inl %dx, %eax");
USER_INSN(out_imm, "movb $0, %al", "outb %al, $0x80");
USER_INSN(out_dx, "movw $0x3ff, %dx; movb $0, %al", "outb %al, %dx");
USER_INSN(insb, "movw $0x3fd, %dx; movl $u_buf, %edi", "insb");
USER_INSN(outsb, "movw $0x3ff, %dx; movl $u_buf, %esi", "outsb");
USER_INSN(lgdt, "", "lgdt k_gdtr");
USER_INSN(lidt, "", "lidt k_idtr");
USER_INSN(lldt, "movw $0x40, %ax", "lldt %ax");
USER_INSN(ltr, "movw $0x48, %ax", "ltr %ax");
USER_INSN(lmsw, "smsw %ax", "lmsw %ax");
USER_INSN(mov_to_cr0, "movl k_cr0, %eax", "movl %eax, %cr0");
USER_INSN(mov_from_cr0, "", "movl %cr0, %eax");
USER_INSN(mov_from_cr2, "", "movl %cr2, %eax");
USER_INSN(mov_to_cr3, "movl k_cr3, %eax", "movl %eax, %cr3");
USER_INSN(mov_from_cr3, "", "movl %cr3, %eax");
USER_INSN(mov_to_cr4, "movl k_cr4, %eax", "movl %eax, %cr4");
USER_INSN(mov_from_cr4, "", "movl %cr4, %eax");
USER_INSN(mov_to_dr7, "movl $0x400, %eax", "movl %eax, %db7");
USER_INSN(mov_from_dr7, "", "movl %db7, %eax");
USER_INSN(clts, "", "clts");
USER_INSN(invd, "", "invd");
USER_INSN(wbinvd, "", "wbinvd");
USER_INSN(invlpg, "movl $u_buf, %eax", "invlpg (%eax)");
USER_INSN(rdmsr, "movl $0x10, %ecx", "rdmsr");
USER_INSN(wrmsr, "movl $0x175, %ecx; xorl %eax, %eax; xorl %edx, %edx", "wrmsr");
USER_INSN(rdpmc, "xorl %ecx, %ecx", "rdpmc");
USER_INSN(rdtsc, "", "rdtsc");

/* rdtsc twice: returns the second low half minus the first. */
extern char u_rdtsc2[];
__asm__(".text\nu_rdtsc2:\n\t"
	"rdtsc\n\tmovl %eax, %ecx\n\trdtsc\n\tsubl %ecx, %eax\n\tret\n");

#define GP0(n, fn) { n, u_##fn, u_##fn##_at }
static const struct {
	const char *name;
	const char *fn, *at;
} gp0_cases[] = {
	/* CPL > IOPL (0): SDM Vol. 1, 19.5.1; I/O also because every port lies beyond
	 * the TSS limit, where the I/O bitmap would be (19.5.2). */
	GP0("cli-cpl3-gp", cli),
	GP0("sti-cpl3-gp", sti),
	GP0("in-imm-cpl3-gp", in_imm),
	GP0("in-dx-cpl3-gp", in_dx),
	GP0("inl-dx-cpl3-gp", inl_dx),
	GP0("out-imm-cpl3-gp", out_imm),
	GP0("out-dx-cpl3-gp", out_dx),
	GP0("insb-cpl3-gp", insb),
	GP0("outsb-cpl3-gp", outsb),
	/* CPL 0 only: SDM Vol. 3A, 5.9 "Privileged Instructions". */
	GP0("lgdt-cpl3-gp", lgdt),
	GP0("lidt-cpl3-gp", lidt),
	GP0("lldt-cpl3-gp", lldt),
	GP0("ltr-cpl3-gp", ltr),
	GP0("lmsw-cpl3-gp", lmsw),
	GP0("mov-to-cr0-cpl3-gp", mov_to_cr0),
	GP0("mov-from-cr0-cpl3-gp", mov_from_cr0),
	GP0("mov-from-cr2-cpl3-gp", mov_from_cr2),
	GP0("mov-to-cr3-cpl3-gp", mov_to_cr3),
	GP0("mov-from-cr3-cpl3-gp", mov_from_cr3),
	GP0("mov-to-cr4-cpl3-gp", mov_to_cr4),
	GP0("mov-from-cr4-cpl3-gp", mov_from_cr4),
	GP0("mov-to-dr7-cpl3-gp", mov_to_dr7),
	GP0("mov-from-dr7-cpl3-gp", mov_from_dr7),
	GP0("clts-cpl3-gp", clts),
	GP0("invd-cpl3-gp", invd),
	GP0("wbinvd-cpl3-gp", wbinvd),
	GP0("invlpg-cpl3-gp", invlpg),
	GP0("rdmsr-cpl3-gp", rdmsr),
	GP0("wrmsr-cpl3-gp", wrmsr),
	/* SDM Vol. 2B, RDPMC: #GP(0) at CPL > 0 with CR4.PCE = 0. */
	GP0("rdpmc-cpl3-pce0-gp", rdpmc),
	/* Last: if it does not fault it halts with IF = 0 and the run times out. */
	GP0("hlt-cpl3-gp", hlt),
};

static void test_privileged(void)
{
	__asm__ volatile("sgdt %0" : "=m"(k_gdtr));
	__asm__ volatile("sidt %0" : "=m"(k_idtr));
	__asm__ volatile("lldt %w0" :: "r"(SEL_LDT));
	k_cr0 = read_cr0();
	__asm__ volatile("movl %%cr3, %0" : "=r"(k_cr3));
	k_cr4 = read_cr4() & ~(CR4_TSD | CR4_PCE);
	write_cr4(k_cr4);

	for (unsigned i = 0; i < sizeof(gp0_cases) / sizeof(gp0_cases[0]); i++)
		user_expect(gp0_cases[i].name, gp0_cases[i].fn, FL_BASE, 13, 0, gp0_cases[i].at);

	/* SDM Vol. 2B, RDTSC: #GP(0) at CPL > 0 with CR4.TSD = 1, allowed with TSD = 0. */
	write_cr4(k_cr4 | CR4_TSD);
	user_expect("rdtsc-cpl3-tsd1-gp", u_rdtsc, FL_BASE, 13, 0, u_rdtsc_at);
	write_cr4(k_cr4);
	volatile uint32_t d = 0;
	int v = EXC(d = user_run((uint32_t)u_rdtsc2, 0, FL_BASE));
	check_eq("rdtsc-cpl3-tsd0-runs", v, -1);
	check(d > 0 && d < 0x80000000u, "rdtsc-cpl3-tsd0-advances");
}

/* ---- gates, selectors and far transfers that would reach ring 0 ---- */

USER_INSN(int30, "", "int $0x30");
USER_INSN(int3, "", "int3");
USER_INSN(into, "movl $0x7fffffff, %eax; addl $1, %eax", "into");
USER_INSN(load_ds_dpl0, "movw $0x10, %ax", "movw %ax, %ds");
USER_INSN(load_ds_rpl3_dpl0, "movw $0x13, %ax", "movw %ax, %ds");
USER_INSN(load_es_dpl0_code, "movw $0x08, %ax", "movw %ax, %es");
USER_INSN(load_ss_dpl0, "movw $0x10, %ax", "movw %ax, %ss");
USER_INSN(load_ss_rpl3_dpl0, "movw $0x13, %ax", "movw %ax, %ss");
USER_INSN(ljmp_ring0, "", "ljmp $0x08, $1f\n1:");
USER_INSN(lcall_ring0, "", "lcall $0x08, $1f\n1:");
USER_INSN(lret_ring0, "pushl $0x08; pushl $1f", "lret\n1:");
USER_INSN(iret_ring0, "pushfl; pushl $0x08; pushl $1f", "iret\n1:");
USER_INSN(load_ds_conf, "movw $0x38, %ax",
	  "movw %ax, %ds; movw %ds, %ax; movzwl %ax, %eax; movl $0x23, %ecx; movw %cx, %ds");

static void test_gates(void)
{
	/* INT n, INT3 and INTO check the gate's DPL against the CPL; the error code
	 * names the IDT entry: vector * 8 + 2 (SDM Vol. 3A, 6.12.1 "Protection of
	 * Exception- and Interrupt-Handler Procedures", 6.13 "Error Code"). */
	user_expect("int-dpl0-gate-cpl3-gp", u_int30, FL_BASE, 13, 0x30 * 8 + 2, u_int30_at);
	user_expect("int3-dpl0-gate-cpl3-gp", u_int3, FL_BASE, 13, 3 * 8 + 2, u_int3_at);
	user_expect("into-dpl0-gate-cpl3-gp", u_into, FL_BASE, 13, 4 * 8 + 2, u_into_at);

	/* Data segment loads need DPL >= max(CPL, RPL) unless the segment is conforming
	 * code; SS needs RPL = DPL = CPL (SDM Vol. 3A, 5.6 and 5.7; MOV: #GP(selector)). */
	user_expect("load-ds-dpl0-cpl3-gp", u_load_ds_dpl0, FL_BASE, 13, SEL_DATA, u_load_ds_dpl0_at);
	user_expect("load-ds-rpl3-dpl0-cpl3-gp", u_load_ds_rpl3_dpl0, FL_BASE, 13, SEL_DATA,
		    u_load_ds_rpl3_dpl0_at);
	user_expect("load-es-dpl0-code-cpl3-gp", u_load_es_dpl0_code, FL_BASE, 13, SEL_CODE,
		    u_load_es_dpl0_code_at);
	user_expect("load-ss-dpl0-cpl3-gp", u_load_ss_dpl0, FL_BASE, 13, SEL_DATA, u_load_ss_dpl0_at);
	user_expect("load-ss-rpl3-dpl0-cpl3-gp", u_load_ss_rpl3_dpl0, FL_BASE, 13, SEL_DATA,
		    u_load_ss_rpl3_dpl0_at);
	user_expect_ret("load-ds-conforming-dpl0-cpl3", u_load_ds_conf, 0, FL_BASE, SEL_CONF);

	/* Direct far JMP/CALL: non-conforming code needs DPL = CPL (5.8.1); RET and IRET
	 * may not return to a more privileged level: RPL < CPL is #GP(selector). */
	user_expect("ljmp-ring0-cpl3-gp", u_ljmp_ring0, FL_BASE, 13, SEL_CODE, u_ljmp_ring0_at);
	user_expect("lcall-ring0-cpl3-gp", u_lcall_ring0, FL_BASE, 13, SEL_CODE, u_lcall_ring0_at);
	user_expect("lret-to-ring0-cpl3-gp", u_lret_ring0, FL_BASE, 13, SEL_CODE, u_lret_ring0_at);
	user_expect("iret-to-ring0-cpl3-gp", u_iret_ring0, FL_BASE, 13, SEL_CODE, u_iret_ring0_at);
}

/* ---- sensitive but unprivileged at CPL 3 (no UMIP: CR4.UMIP is 0) ---- */

struct dtr u_sgdt, u_sidt;

/* u_sens: SGDT, SIDT, SMSW, STR, SLDT, MOV from CS and SS. */
extern char u_sens[];
__asm__(".text\nu_sens:\n\t"
	"sgdt u_sgdt\n\t"
	"sidt u_sidt\n\t"
	"movl $0xffffffff, %eax\n\tsmsw %ax\n\tmovl %eax, u_out+0\n\t"
	"movl $0xffffffff, %eax\n\tstr %ax\n\tmovl %eax, u_out+4\n\t"
	"movl $0xffffffff, %eax\n\tsldt %ax\n\tmovl %eax, u_out+8\n\t"
	"movl %cs, %eax\n\tmovl %eax, u_out+12\n\t"
	"movl %ss, %eax\n\tmovl %eax, u_out+16\n\t"
	"ret\n");

/* u_pushf: EFLAGS as ring 3 starts. u_popf(v): POPF v, then PUSHF. */
extern char u_pushf[], u_popf[];
__asm__(".text\nu_pushf:\n\t"
	"pushfl\n\tpopl %eax\n\tret\n"
	"u_popf:\n\t"
	"pushl 4(%esp)\n\tpopfl\n\tpushfl\n\tpopl %eax\n\tcld\n\tret\n");

/* u_access(sel): LAR, LSL (destination 0xdeadbeef before), VERR, VERW and their ZF. */
extern char u_access[];
__asm__(".text\nu_access:\n\t"
	"movl 4(%esp), %ecx\n\t"
	"movl $0xdeadbeef, %eax\n\tlar %ecx, %eax\n\tsetz %dl\n\t"
	"movl %eax, u_out+0\n\tmovzbl %dl, %edx\n\tmovl %edx, u_out+4\n\t"
	"movl $0xdeadbeef, %eax\n\tlsl %ecx, %eax\n\tsetz %dl\n\t"
	"movl %eax, u_out+8\n\tmovzbl %dl, %edx\n\tmovl %edx, u_out+12\n\t"
	"verr %cx\n\tsetz %dl\n\tmovzbl %dl, %edx\n\tmovl %edx, u_out+16\n\t"
	"verw %cx\n\tsetz %dl\n\tmovzbl %dl, %edx\n\tmovl %edx, u_out+20\n\t"
	"ret\n");

/* SDM Vol. 3A, 5.10.1-5.10.3 and Vol. 2A LAR/LSL, Vol. 2B VERR/VERW: a data or
 * non-conforming code segment needs DPL >= CPL and RPL; conforming code has no
 * privilege check; TSSs fail at CPL 3 by DPL. LAR masked with 0x00f0ff00. */
static const struct {
	const char *what;
	uint16_t sel;
	uint8_t lar, lsl, verr, verw;
	uint32_t ar;
} access_cases[] = {
	{ "dpl0-data", SEL_DATA, 0, 0, 0, 0, 0 },
	{ "dpl3-data", SEL_UDATA, 1, 1, 1, 1, 0x00c0f300 },
	{ "dpl0-code", SEL_CODE, 0, 0, 0, 0, 0 },
	{ "dpl3-code", SEL_UCODE, 1, 1, 1, 0, 0x00c0fb00 },
	{ "dpl0-conforming", SEL_CONF | 3, 1, 1, 1, 0, 0x00c09f00 },
	{ "dpl0-tss", SEL_TSS, 0, 0, 0, 0, 0 },
};

static void check_access(void)
{
	char name[48];
	for (unsigned i = 0; i < sizeof(access_cases) / sizeof(access_cases[0]); i++) {
		const char *what = access_cases[i].what;
		int v = EXC(user_run((uint32_t)u_access, access_cases[i].sel, FL_USER));
		name_cat(name, "access-cpl3-no-fault-", what);
		check_eq(name, v, -1);

		uint32_t lar = access_cases[i].lar ? access_cases[i].ar : 0xdeadbeef;
		uint32_t got = access_cases[i].lar ? u_out[0] & 0x00f0ff00 : u_out[0];
		name_cat(name, "lar-cpl3-", what);
		if (u_out[1] != access_cases[i].lar || got != lar)
			fail(name, "zf %u value %08x want zf %u value %08x", u_out[1], got,
			     access_cases[i].lar, lar);
		else
			pass(name);
		uint32_t lsl = access_cases[i].lsl ? 0xffffffff : 0xdeadbeef;
		name_cat(name, "lsl-cpl3-", what);
		if (u_out[3] != access_cases[i].lsl || u_out[2] != lsl)
			fail(name, "zf %u value %08x want zf %u value %08x", u_out[3], u_out[2],
			     access_cases[i].lsl, lsl);
		else
			pass(name);
		name_cat(name, "verr-cpl3-", what);
		check_eq(name, u_out[4], access_cases[i].verr);
		name_cat(name, "verw-cpl3-", what);
		check_eq(name, u_out[5], access_cases[i].verw);
	}
}

static void test_sensitive(void)
{
	uint32_t cr0 = read_cr0();
	write_cr0(cr0 | 2);     /* CR0.MP: a bit SMSW must show that the boot state lacks */
	int v = EXC(user_run((uint32_t)u_sens, 0, FL_USER));
	uint32_t msw = read_cr0() & 0xffff;
	write_cr0(cr0);
	check_eq("sensitive-cpl3-no-fault", v, -1);
	check_eq("sgdt-cpl3-base", u_sgdt.base, (uint32_t)gdt);
	check_eq("sgdt-cpl3-limit", u_sgdt.limit, GDT_ENTRIES * 8 - 1);
	check_eq("sidt-cpl3-base", u_sidt.base, (uint32_t)idt);
	check_eq("sidt-cpl3-limit", u_sidt.limit, sizeof(idt) - 1);
	check_eq("smsw-cpl3", u_out[0] & 0xffff, msw);
	check_eq("str-cpl3", u_out[1] & 0xffff, SEL_TSS);
	check_eq("sldt-cpl3", u_out[2] & 0xffff, SEL_LDT);
	check_eq("mov-from-cs-cpl3", u_out[3] & 0xffff, SEL_UCODE);
	check_eq("mov-from-ss-cpl3", u_out[4] & 0xffff, SEL_UDATA);

	/* PUSHF shows the EFLAGS the kernel's IRET loaded, IF either way. */
	user_expect_ret("pushf-cpl3-if-set", u_pushf, 0, FL_BASE | EFL_IF, FL_BASE | EFL_IF);
	user_expect_ret("pushf-cpl3-if-clear", u_pushf, 0, FL_BASE, FL_BASE);

	/* POPF at CPL 3, IOPL 0: IF and IOPL keep their values, no fault; the arithmetic
	 * flags and DF load (SDM Vol. 2B, POPF: the flags it may change by mode). */
	volatile uint32_t f = 0;
	v = EXC(f = user_run((uint32_t)u_popf, IOPL(3) | 0xcd5 | FL_BASE, FL_BASE | EFL_IF));
	check_eq("popf-cpl3-iopl0-no-fault", v, -1);
	check(f & EFL_IF, "popf-cpl3-iopl0-keeps-if-set");
	check_eq("popf-cpl3-iopl0-keeps-iopl", f & EFL_IOPL, 0);
	check_eq("popf-cpl3-iopl0-loads-other-flags", f & 0xcd5, 0xcd5);
	user_expect_ret("popf-cpl3-iopl0-keeps-if-clear", u_popf, FL_BASE | EFL_IF, FL_BASE, FL_BASE);

	check_access();
}

/* ---- IOPL 3, IOPL 2 and the I/O permission bitmap ---- */

uint8_t u_iobuf[4];
void iopl3_print(void);
void iopl3_print(void)
{
	pass("printf-cpl3-iopl3");      /* polls the LSR and writes THR from ring 3 */
}

/* u_iopl3: CLI/STI, IN/OUT on the COM1 scratch register, OUTSB/INSB, POPF of IF. */
extern char u_iopl3[];
__asm__(".text\nu_iopl3:\n\t"
	"cli\n\tpushfl\n\tpopl u_out+0\n\t"
	"sti\n\tpushfl\n\tpopl u_out+4\n\t"
	"movw $0x3ff, %dx\n\tmovb $0x5a, %al\n\toutb %al, %dx\n\t"
	"xorl %eax, %eax\n\tinb %dx, %al\n\tmovl %eax, u_out+8\n\t"
	"movb $0xa5, u_iobuf\n\tmovb $0, u_iobuf+1\n\t"
	"movl $u_iobuf, %esi\n\toutsb\n\tmovl $u_iobuf+1, %edi\n\tinsb\n\t"
	"pushl $0x2\n\tpopfl\n\tpushfl\n\tpopl u_out+12\n\t"
	"call iopl3_print\n\t"
	"ret\n");

USER_INSN(bm_ok, "movw $0x3ff, %dx; movb $0x3c, %al; outb %al, %dx; xorl %eax, %eax",
	  "inb %dx, %al");
USER_INSN(bm_ok_imm, "", "outb %al, $0x80; movl $1, %eax");
USER_INSN(bm_ok_str, "movw $0x3ff, %dx; movb $0xc3, u_iobuf; movl $u_iobuf, %esi; outsb;"
	  "movl $u_iobuf+2, %edi; movb $0, (%edi)", "insb; movzbl u_iobuf+2, %eax");
USER_INSN(bm_in_3fe, "movw $0x3fe, %dx", "inb %dx, %al");
USER_INSN(bm_in_imm_81, "", "inb $0x81, %al");
USER_INSN(bm_inw_3ff, "movw $0x3ff, %dx", "inw %dx, %ax");
USER_INSN(bm_in_500, "movw $0x500, %dx", "inb %dx, %al");

static void test_io(void)
{
	/* IOPL 3 = CPL: CLI, STI, POPF of IF and I/O are allowed, the bitmap is not
	 * looked at (it lies beyond the TSS limit here); POPF still keeps IOPL at CPL > 0
	 * (SDM Vol. 1, 19.5.1; Vol. 2B, POPF). */
	int v = EXC(user_run((uint32_t)u_iopl3, 0, FL_USER | IOPL(3)));
	check_eq("iopl3-cpl3-no-fault", v, -1);
	check((u_out[0] & EFL_IF) == 0, "cli-cpl3-iopl3");
	check(u_out[1] & EFL_IF, "sti-cpl3-iopl3");
	check_eq("in-out-cpl3-iopl3", u_out[2], 0x5a);
	check_eq("outsb-insb-cpl3-iopl3", u_iobuf[1], 0xa5);
	check((u_out[3] & EFL_IF) == 0, "popf-cpl3-iopl3-loads-if");
	check_eq("popf-cpl3-iopl3-keeps-iopl", u_out[3] & EFL_IOPL, IOPL(3));

	/* IOPL 2 < CPL 3. */
	user_expect("cli-cpl3-iopl2-gp", u_cli, FL_BASE | IOPL(2), 13, 0, u_cli_at);
	user_expect("in-cpl3-iopl2-gp", u_in_dx, FL_BASE | IOPL(2), 13, 0, u_in_dx_at);

	/* IOPL 0 with a bitmap allowing ports 0x3ff and 0x80 only: an access needs the
	 * bit of every port it touches clear, and ports whose bit lies beyond the TSS
	 * limit are refused (SDM Vol. 1, 19.5.2). */
	ring_tss.iomap[0x3ff >> 3] &= ~(1u << (0x3ff & 7));
	ring_tss.iomap[0x80 >> 3] &= ~1u;
	ring_set_tss(1);
	user_expect_ret("iobitmap-allows-port", u_bm_ok, 0, FL_BASE, 0x3c);
	user_expect_ret("iobitmap-allows-imm-port", u_bm_ok_imm, 0, FL_BASE, 1);
	user_expect_ret("iobitmap-allows-string-io", u_bm_ok_str, 0, FL_BASE, 0xc3);
	user_expect("iobitmap-denies-port", u_bm_in_3fe, FL_BASE, 13, 0, u_bm_in_3fe_at);
	user_expect("iobitmap-denies-imm-port", u_bm_in_imm_81, FL_BASE, 13, 0, u_bm_in_imm_81_at);
	user_expect("iobitmap-word-needs-both-bits", u_bm_inw_3ff, FL_BASE, 13, 0, u_bm_inw_3ff_at);
	user_expect("iobitmap-beyond-limit-gp", u_bm_in_500, FL_BASE, 13, 0, u_bm_in_500_at);
	user_expect("iobitmap-cli-still-gp", u_cli, FL_BASE, 13, 0, u_cli_at);
	memset(ring_tss.iomap, 0xff, sizeof(ring_tss.iomap));
	ring_set_tss(0);
	user_expect("iomap-removed-out-gp", u_bm_ok_imm, FL_BASE, 13, 0, u_bm_ok_imm_at);
}

/* ---- exceptions at CPL 3 ---- */

/* u_ud, u_de: ESP, then a two-byte faulting instruction, then u_resumed = 1 and
 * 0x600d returned. */
extern char u_ud[], u_ud_at[], u_de[], u_de_at[];
__asm__(".text\nu_ud:\n\t"
	"movl $0, u_resumed\n\t"
	"movl %esp, u_fault_esp\n"
	"u_ud_at:\n\t"
	"ud2\n\t"
	"movl $1, u_resumed\n\t"
	"movl $0x600d, %eax\n\t"
	"ret\n"
	"u_de:\n\t"
	"movl $0, u_resumed\n\t"
	"movl $1, %eax\n\txorl %edx, %edx\n\txorl %ecx, %ecx\n\t"
	"movl %esp, u_fault_esp\n"
	"u_de_at:\n\t"
	"divl %ecx\n\t"
	"movl $1, u_resumed\n\t"
	"movl $0x600d, %eax\n\t"
	"ret\n");

static struct {
	uint32_t eip, cs, eflags, esp, ss, top, ss_in;
} hk;

/* Record the frame and resume ring 3 after the two-byte instruction (the stub's IRET
 * goes back to CPL 3). */
static void skip2_hook(struct frame *f)
{
	struct uframe *u = (struct uframe *)f;
	hk.eip = f->eip;
	hk.cs = f->cs & 0xffff;
	hk.eflags = f->eflags;
	hk.esp = u->esp;
	hk.ss = u->ss & 0xffff;
	hk.top = (uint32_t)(u + 1);
	hk.ss_in = RSEG(ss);
	f->eip += 2;
}

static void check_user_exc(const char *tag, int vec, const char *fn, const char *at)
{
	char name[48];
	volatile uint32_t r = 0;
	exc_set_hook(vec, skip2_hook);
	int v = EXC(r = user_run((uint32_t)fn, 0, FL_USER));
	exc_set_hook(vec, 0);
	name_cat(name, tag, "-cpl3-vector");
	check_eq(name, v, vec);
	name_cat(name, tag, "-cpl3-iret-resumes-ring3");
	check(r == 0x600d && u_resumed == 1 && exc_last.count == 1, name);
	name_cat(name, tag, "-cpl3-frame-eip");
	check_eq(name, hk.eip, (uint32_t)at);
	name_cat(name, tag, "-cpl3-frame-cs");
	check_eq(name, hk.cs, SEL_UCODE);
	name_cat(name, tag, "-cpl3-frame-if");
	check_eq(name, hk.eflags & EFL_IF, EFL_IF);
	name_cat(name, tag, "-cpl3-frame-user-esp");
	check_eq(name, hk.esp, u_fault_esp);
	name_cat(name, tag, "-cpl3-frame-user-ss");
	check_eq(name, hk.ss, SEL_UDATA);
	name_cat(name, tag, "-cpl3-frame-at-esp0");
	check_eq(name, hk.top, ring_tss.t.esp0);
	name_cat(name, tag, "-cpl3-handler-ss-is-ss0");
	check_eq(name, hk.ss_in, SEL_KSTACK);
}

static void test_exceptions(void)
{
	check_user_exc("ud2", 6, u_ud, u_ud_at);
	check_user_exc("div0", 0, u_de, u_de_at);

	/* The TSS is read at every entry to ring 0, not cached at LTR: on each stack
	 * switch the processor loads SS and ESP for the new level from the current TSS
	 * (SDM Vol. 3A, 6.12.1). */
	ring_tss.t.esp0 = RING0_TOP - 256;
	exc_set_hook(6, skip2_hook);
	EXC(user_run((uint32_t)u_ud, 0, FL_USER));
	exc_set_hook(6, 0);
	ring_tss.t.esp0 = RING0_TOP;
	check_eq("tss-esp0-read-at-each-entry", hk.top, RING0_TOP - 256);
}

void test_main(void)
{
	guest_init();
	ring_init();
	gdt_set(S_CONF, 0, 0xfffff, 0x9f, GRAN_4K32);
	ldt[1] = gdt_desc(0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_LDT, (uint32_t)ldt, sizeof(ldt) - 1, 0x82, 0);
	tss2.ss0 = SEL_KSTACK;
	tss2.esp0 = RING0_TOP;
	tss2.iomap = sizeof(tss2);
	gdt_set(S_TSS2, (uint32_t)&tss2, sizeof(tss2) - 1, 0x89, 0);

	test_enter();
	test_int80();
	test_privileged();
	test_gates();
	test_sensitive();
	test_io();
	test_exceptions();
}
