/*
 * exceptions.c - exceptions delivered through the guest IDT with the right vector,
 * error code, saved EIP (fault: the instruction; trap: the next one), saved CS/EFLAGS
 * and frame size: #DE, #BP, #OF, #BR, #UD, #NM, #NP, #SS and #GP from segment loads,
 * far transfers beyond a code segment limit, and zero, absent or out-of-limit IDT gates.
 */
#include "guest.h"

enum { S_NP_DATA = 3, S_XONLY, S_NP_CODE, S_SMALLCODE, S_DATA2 };
#define SEL(i) ((i) << 3)
#define RSEG(s) ({ uint16_t v_; __asm__ volatile("movw %%" #s ", %0" : "=rm"(v_)); v_; })

uint32_t esp_before;    /* ESP just before a faulting instruction */
#define SAVE_ESP "movl %%esp, esp_before\n\t"

extern char de_div[], de_div8[], ud_ud2[], ud_xbegin[], gp_long[], ud_lock[], bp_after[], bp2_after[], of_after[],
	br_bound[], gp_load[], gp_ljmp[], np_int[], nm_fld[];

static void test_divide(void)
{
	EXPECT_EXC("div-by-zero", 0, 0,
		   __asm__ volatile("movl $100, %%eax; xorl %%edx, %%edx; xorl %%ecx, %%ecx\n\t" SAVE_ESP
				    ASM_LABEL(de_div) "divl %%ecx" ::: "eax", "ecx", "edx", "memory"));
	check_eq("div-by-zero-eip", exc_last.eip, (uint32_t)de_div);
	check_eq("div-by-zero-eax-intact", exc_last.eax, 100);
	check_eq("div-by-zero-frame-esp", exc_last.esp, esp_before);
	check_eq("div-by-zero-frame-cs", exc_last.cs, SEL_CODE);

	EXPECT_EXC("div-quotient-overflow", 0, 0,
		   __asm__ volatile("movl $1, %%edx; xorl %%eax, %%eax; movl $1, %%ecx; divl %%ecx"
				    ::: "eax", "ecx", "edx"));
	EXPECT_EXC("idiv-int-min-by-minus-1", 0, 0,
		   __asm__ volatile("movl $0x80000000, %%eax; cltd; movl $-1, %%ecx; idivl %%ecx"
				    ::: "eax", "ecx", "edx"));
	EXPECT_EXC("div8-overflow", 0, 0,
		   __asm__ volatile("movl $0x1000, %%eax; movb $0x10, %%cl\n" ASM_LABEL(de_div8) "divb %%cl"
				    ::: "eax", "ecx"));
	check_eq("div8-overflow-eip", exc_last.eip, (uint32_t)de_div8);
	volatile uint32_t q = 0;
	int v = EXC(__asm__ volatile("movl $1, %%edx; xorl %%eax, %%eax; movl $2, %%ecx; divl %%ecx"
				     : "=a"(q) :: "ecx", "edx"));
	check(v == -1 && q == 0x80000000, "div-no-overflow");
}

static void nop_hook(struct frame *f)
{
	(void)f;
}

static void test_traps(void)
{
	uint32_t after = 0;

	/* int3 is a trap: the handler returns (iret) to the instruction after it. */
	exc_set_hook(3, nop_hook);
	exc_clear();
	__asm__ volatile("movl $1, %0; int3\n" ASM_LABEL(bp_after) "addl $1, %0" : "+r"(after));
	check_eq("int3-vector", exc_last.vector, 3);
	check_eq("int3-eip-after", exc_last.eip, (uint32_t)bp_after);
	check_eq("int3-resumes", after, 2);
	exc_clear();
	__asm__ volatile("int $3\n" ASM_LABEL(bp2_after));
	check_eq("int-3-long-form-eip", exc_last.eip, (uint32_t)bp2_after);
	exc_set_hook(3, 0);

	EXPECT_EXC("into-overflow", 4, 0,
		   __asm__ volatile("movl $0x7fffffff, %%eax; addl $1, %%eax; into\n" ASM_LABEL(of_after)
				    ::: "eax", "cc"));
	check_eq("into-eip-after", exc_last.eip, (uint32_t)of_after);
	check(exc_last.eflags & EFL_OF, "into-frame-of");
	int v = EXC(__asm__ volatile("movl $1, %%eax; addl $1, %%eax; into" ::: "eax", "cc"));
	check_eq("into-no-overflow", v, -1);

	static const int32_t bounds[2] = { 10, 20 };
	EXPECT_EXC("bound-range", 5, 0,
		   __asm__ volatile("movl $21, %%eax\n" ASM_LABEL(br_bound) "boundl %%eax, (%0)"
				    :: "r"(bounds) : "eax"));
	check_eq("bound-eip", exc_last.eip, (uint32_t)br_bound);
	v = EXC(__asm__ volatile("movl $20, %%eax; boundl %%eax, (%0)" :: "r"(bounds) : "eax"));
	check_eq("bound-in-range", v, -1);

	/* The frame holds the EFLAGS of the interrupted code (all arithmetic flags set),
	 * with RF set as for every fault-class exception (SDM Vol. 3, 18.3.1.1); QEMU 7.2
	 * pushes RF clear. */
	EXC(__asm__ volatile("pushl $0x8d7; popfl; ud2" ::: "cc"));
	check_eq("frame-eflags", exc_last.eflags & ~0x10000u, 0x8d7);
	check_eq_sdm("fault-frame-rf", exc_last.eflags & 0x10000u, 0x10000u, "qemu-pushes-rf-clear");
}

static void test_ud_nm(void)
{
	int v;
	EXPECT_EXC("ud2", 6, 0, __asm__ volatile(ASM_LABEL(ud_ud2) "ud2"));
	check_eq("ud2-eip", exc_last.eip, (uint32_t)ud_ud2);
	EXPECT_EXC("lock-nop", 6, 0, __asm__ volatile(ASM_LABEL(ud_lock) ".byte 0xf0, 0x90"));
	check_eq("lock-nop-eip", exc_last.eip, (uint32_t)ud_lock);
	EXPECT_EXC("lock-register-add", 6, 0, __asm__ volatile(".byte 0xf0, 0x01, 0xc0" ::: "eax", "cc"));
	/* LOCK on instructions a translator rewrites rather than copies (Capstone refuses
	 * to decode them: #UD). QEMU 7.2 TCG runs them. */
	v = EXC(__asm__ volatile(".byte 0xf0, 0xeb, 0x00"));
	expect_exc_sdm("lock-jmp", v, 6, 0, "qemu-runs-lock-jmp");
	v = EXC(__asm__ volatile("pushl $1f\n\t.byte 0xf0, 0xc3\n1:" ::: "memory"));
	expect_exc_sdm("lock-ret", v, 6, 0, "qemu-runs-lock-ret");
	v = EXC(__asm__ volatile(".byte 0xf0, 0x1e\n\tpopl %%eax" ::: "eax", "memory"));
	expect_exc_sdm("lock-push-ds", v, 6, 0, "qemu-runs-lock-push");
	v = EXC(__asm__ volatile(".byte 0xf0, 0xfa"));
	expect_exc_sdm("lock-cli", v, 6, 0, "qemu-runs-lock-cli");
	static volatile uint32_t lockw;
	v = EXC(__asm__ volatile("lock incl %0" : "+m"(lockw)));
	check(v == -1 && lockw == 1, "lock-inc-memory-runs");

	/* Features this CPU does not report (CPUID leaf 1: no XSAVE, AVX, RTM, VMX) are
	 * #UD although the host would run them. */
	static uint8_t area[1024] __attribute__((aligned(64)));
	/* QEMU TCG decodes XBEGIN/XABORT whatever its CPUID says. */
	v = EXC(__asm__ volatile(ASM_LABEL(ud_xbegin) ".byte 0xc7, 0xf8; .long 0" ::: "memory"));
	expect_exc_sdm("xbegin", v, 6, 0, "qemu-runs-xbegin-without-rtm");
	if (under_qemu())
		printf("SKIP xbegin-eip qemu-runs-xbegin-without-rtm\n");
	else
		check_eq("xbegin-eip", exc_last.eip, (uint32_t)ud_xbegin);
	v = EXC(__asm__ volatile(".byte 0xc6, 0xf8, 0x01" ::: "memory"));
	expect_exc_sdm("xabort", v, 6, 0, "qemu-runs-xabort-without-rtm");
	EXPECT_EXC("xsave", 6, 0, __asm__ volatile("xsave (%0)" :: "r"(area), "a"(3), "d"(0) : "memory"));
	EXPECT_EXC("xrstor", 6, 0, __asm__ volatile("xrstor (%0)" :: "r"(area), "a"(3), "d"(0) : "memory"));
	EXPECT_EXC("xsavec", 6, 0, __asm__ volatile("xsavec (%0)" :: "r"(area), "a"(3), "d"(0) : "memory"));
	EXPECT_EXC("xgetbv", 6, 0, __asm__ volatile("xgetbv" :: "c"(0) : "eax", "edx"));
	EXPECT_EXC("vmread", 6, 0, __asm__ volatile(".byte 0x0f, 0x78, 0xc0" ::: "eax"));
	EXPECT_EXC("vex-vaddps", 6, 0, __asm__ volatile(".byte 0xc5, 0xf8, 0x58, 0xc0"));
	EXPECT_EXC("vex-vzeroupper", 6, 0, __asm__ volatile(".byte 0xc5, 0xf8, 0x77"));
	/* SDM Vol. 2, 2.3.11: more than 15 bytes is #GP(0), at the instruction. */
	EXPECT_EXC("sixteen-bytes", 13, 0,
		   __asm__ volatile(ASM_LABEL(gp_long) ".fill 15, 1, 0x66; nop"));
	check_eq("sixteen-bytes-eip", exc_last.eip, (uint32_t)gp_long);
	v = EXC(__asm__ volatile(".fill 14, 1, 0x66; nop"));
	check_eq("fifteen-bytes-run", v, -1);

	uint32_t cr0 = read_cr0();
	write_cr0((cr0 & ~4) | 8);
	EXPECT_EXC("fpu-with-ts", 7, 0, __asm__ volatile(ASM_LABEL(nm_fld) "fld1; fstp %%st(0)" ::: "memory"));
	check_eq("fpu-with-ts-eip", exc_last.eip, (uint32_t)nm_fld);
	write_cr0(cr0 | 4);
	EXPECT_EXC("fpu-with-em", 7, 0, __asm__ volatile("fld1; fstp %%st(0)" ::: "memory"));
	write_cr0(cr0 & ~0xc);
	v = EXC(__asm__ volatile("fninit; fld1; fstp %%st(0)" ::: "memory"));
	check_eq("fpu-enabled", v, -1);
	write_cr0(cr0);
}

#define LOAD(seg, sel) __asm__ volatile("movw %w0, %%" #seg :: "r"(sel) : "memory")

static void test_segments(void)
{
	EXPECT_EXC("load-beyond-gdt-limit", 13, 0x80,
		   __asm__ volatile(SAVE_ESP ASM_LABEL(gp_load) "movw %w0, %%es" :: "r"(0x80) : "memory"));
	check_eq("load-beyond-gdt-limit-eip", exc_last.eip, (uint32_t)gp_load);
	check_eq("load-beyond-gdt-limit-frame-esp", exc_last.esp, esp_before);
	check_eq("es-unchanged-after-gp", RSEG(es), SEL_DATA);
	EXPECT_EXC("load-beyond-limit-rpl3", 13, 0x1f8, LOAD(ds, 0x1fb));
	__asm__ volatile("lldt %w0" :: "r"(0));
	EXPECT_EXC("load-ldt-selector-without-ldt", 13, 0x0c, LOAD(fs, 0x0f));
	EXPECT_EXC("load-exec-only-into-ds", 13, SEL(S_XONLY), LOAD(ds, SEL(S_XONLY)));
	EXPECT_EXC("load-code-into-ss", 13, SEL_CODE, LOAD(ss, SEL_CODE));
	EXPECT_EXC("load-null-into-ss", 13, 0, LOAD(ss, 0));
	EXPECT_EXC("load-rpl3-into-ss", 13, SEL_DATA, LOAD(ss, SEL_DATA | 3));
	EXPECT_EXC("load-not-present-ds", 11, SEL(S_NP_DATA), LOAD(ds, SEL(S_NP_DATA)));
	EXPECT_EXC("load-not-present-gs", 11, SEL(S_NP_DATA), LOAD(gs, SEL(S_NP_DATA)));
	EXPECT_EXC("load-not-present-ss", 12, SEL(S_NP_DATA), LOAD(ss, SEL(S_NP_DATA)));
	EXPECT_EXC("ljmp-not-present-code", 11, SEL(S_NP_CODE),
		   __asm__ volatile("ljmp %0, $1f\n1:" :: "i"(SEL(S_NP_CODE))));
	EXPECT_EXC("ljmp-to-data-segment", 13, SEL_DATA, __asm__ volatile("ljmp $0x10, $1f\n1:"));

	/* A code segment limit is checked on far transfers: EIP beyond it is #GP(0). */
	EXPECT_EXC("ljmp-beyond-cs-limit", 13, 0,
		   __asm__ volatile(ASM_LABEL(gp_ljmp) "ljmp %0, $1f\n1:" :: "i"(SEL(S_SMALLCODE))));
	check_eq("ljmp-beyond-cs-limit-eip", exc_last.eip, (uint32_t)gp_ljmp);
	check_eq("cs-unchanged-after-gp", read_cs(), SEL_CODE);
	/* The SDM says #GP(0); QEMU pushes the selector, so the code is not checked. */
	EXPECT_EXC("lcall-beyond-cs-limit", 13, -1,
		   __asm__ volatile("lcall %0, $1f\n1:" :: "i"(SEL(S_SMALLCODE))));

	/* Recovery reloads the segment registers saved by exc_try(). */
	EXC(__asm__ volatile("movw %w0, %%fs; ud2" :: "r"(SEL(S_DATA2))));
	check_eq("fs-restored-after-fault", RSEG(fs), SEL_DATA);
}

static void test_idt(void)
{
	/* Error code for IDT events: vector << 3 | IDT(2), EXT = 0 for INT n. */
	EXPECT_EXC("int-zero-gate", 13, 0x40 * 8 + 2, __asm__ volatile("int $0x40"));
	idt_set(0x41, isr_stubs[0x41], SEL_CODE, 0x0e);         /* interrupt gate, P=0 */
	EXPECT_EXC("int-absent-gate", 11, 0x41 * 8 + 2,
		   __asm__ volatile(SAVE_ESP ASM_LABEL(np_int) "int $0x41" ::: "memory"));
	check_eq("int-absent-gate-eip", exc_last.eip, (uint32_t)np_int);
	check_eq("int-absent-gate-frame-esp", exc_last.esp, esp_before);
	struct dtr small = { 0x30 * 8 - 1, (uint32_t)idt }, full = { sizeof(idt) - 1, (uint32_t)idt };
	__asm__ volatile("lidt %0" :: "m"(small));
	int v = EXC(__asm__ volatile("int $0x80"));
	uint32_t err = exc_last.error;
	__asm__ volatile("lidt %0" :: "m"(full));
	check(v == 13 && err == 0x80 * 8 + 2, "int-beyond-idt-limit");
	exc_clear();
	__asm__ volatile("int $0x80");
	check_eq("int-after-idt-restored", exc_last.vector, 0x80);
}

void test_main(void)
{
	guest_init();
	gdt_set(S_NP_DATA, 0, 0xfffff, ACC_DATA & 0x7f, GRAN_4K32);
	gdt_set(S_XONLY, 0, 0xfffff, 0x99, GRAN_4K32);
	gdt_set(S_NP_CODE, 0, 0xfffff, ACC_CODE & 0x7f, GRAN_4K32);
	gdt_set(S_SMALLCODE, 0, 0xfff, ACC_CODE, GRAN_BYTE32);
	gdt_set(S_DATA2, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	test_divide();
	test_traps();
	test_ud_nm();
	test_segments();
	test_idt();
}
