/*
 * branches.c - near branches in the forms the rewriter does not copy: targets past
 * the CS limit (the #GP(0) comes at the branch, with ESP and ECX as before it; a
 * branch not taken never faults), 16-bit operand size, far JMP ptr16:16, an indirect
 * call to offset 0xffffffff, and instructions with two segment prefixes (the last
 * one counts).
 */
#include "guest.h"

#define S_LIM   3       /* 0x18: code, base 0, limit 2 MiB - 1 */
#define S_BASED 4       /* 0x20: code, base 0x200000, limit 4 GiB - 1 */
#define S_FS    5       /* 0x28: data, base 0x1000 */
#define S_TIGHT 6       /* 0x30: code whose limit ends inside test_rel8_past_limit's code */
#define BASED   0x200000u
#define LOW     0x7000u /* a code snippet below 64 KiB for 16-bit targets */

extern char at_ret[], at_ret8[], at_jmp[], at_call[], at_callm[], at_jz[];
uint32_t saved_esp, hook_ecx;
static volatile uint32_t far_ptr = 0x300000;
static volatile uint32_t words[2048];

#define IN_LIMITED_CS(body) \
	"ljmp $0x18, $1f\n1:\t" body "\n\tljmp $0x08, $2f\n2:"

/* Indirect calls and returns that keep their target, in a code segment with a limit:
 * the inline caches hit (their translation is longer there: the branch notes). */
static void test_limited_ic(void)
{
	uint32_t sum = 0;
	__asm__ volatile(IN_LIMITED_CS(
		"xorl %%edx, %%edx\n\t"
		"movl $3f, %%esi\n\t"
		"movl $6, %%ecx\n"
		"4:\tcall *%%esi\n\t"
		"loop 4b\n\t"
		"jmp 5f\n"
		"3:\taddl $1, %%edx\n\t"
		"ret\n"
		"5:")
		: "=&d"(sum) :: "ecx", "esi", "memory", "cc");
	check_eq("ic-hits-in-limited-cs", sum, 6);
}

static void test_past_limit(void)
{
	int v;
	v = EXC(__asm__ volatile(IN_LIMITED_CS("orl $1, %%eax; jz 0x300000") ::: "eax", "memory", "cc"));
	check_eq("jcc-not-taken-past-limit", v, -1);

	EXPECT_EXC("ret-past-limit", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"pushl $0x300000; movl %%esp, saved_esp\n" ASM_LABEL(at_ret) "ret") ::: "memory"));
	check_eq("ret-past-limit-eip", exc_last.eip, (uint32_t)at_ret);
	check_eq("ret-past-limit-cs", exc_last.cs, 0x18);
	check_eq("ret-past-limit-esp", exc_last.esp, saved_esp);

	EXPECT_EXC("ret-imm-past-limit", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"pushl $0x300000; movl %%esp, saved_esp\n" ASM_LABEL(at_ret8) "ret $8") ::: "memory"));
	check_eq("ret-imm-past-limit-eip", exc_last.eip, (uint32_t)at_ret8);
	check_eq("ret-imm-past-limit-esp", exc_last.esp, saved_esp);

	EXPECT_EXC("jmp-reg-past-limit", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"movl $0x300000, %%eax\n" ASM_LABEL(at_jmp) "jmp *%%eax") ::: "eax", "memory"));
	check_eq("jmp-reg-past-limit-eip", exc_last.eip, (uint32_t)at_jmp);

	EXPECT_EXC("call-reg-past-limit", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"movl $0x300000, %%eax; movl %%esp, saved_esp\n" ASM_LABEL(at_call) "call *%%eax")
		::: "eax", "memory"));
	check_eq("call-reg-past-limit-eip", exc_last.eip, (uint32_t)at_call);
	check_eq("call-reg-past-limit-esp", exc_last.esp, saved_esp);

	EXPECT_EXC("call-mem-past-limit", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"movl %%esp, saved_esp\n" ASM_LABEL(at_callm) "call *far_ptr") ::: "memory"));
	check_eq("call-mem-past-limit-eip", exc_last.eip, (uint32_t)at_callm);
	check_eq("call-mem-past-limit-esp", exc_last.esp, saved_esp);

	EXPECT_EXC("jcc-taken-past-limit", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"xorl %%eax, %%eax\n" ASM_LABEL(at_jz) "jz 0x300000") ::: "eax", "memory", "cc"));
	check_eq("jcc-taken-past-limit-eip", exc_last.eip, (uint32_t)at_jz);

}

/*
 * LOOP, JECXZ and Jcc rel8 to just past a limit: a code segment based at the page of
 * tight_start whose limit ends at tight_end. Not taken, they go on; LOOP taken
 * faults with ECX not yet decremented.
 */
__asm__(".text\n"
	ASM_LABEL(tight_start)
	"\tjmp 1f\n"
	ASM_LABEL(tight_resume)
	"\tljmp $0x08, $tight_back\n"
	"1:\tmovl $1, %ecx\n"
	"\tloop 9f\n"
	"\tmovl $1, %ecx\n"
	"\tjecxz 9f\n"
	"\torl $1, %eax\n"
	"\tjz 9f\n"
	"\tmovl $2, %ecx\n"
	ASM_LABEL(tight_loop)
	"\tloop 9f\n"
	ASM_LABEL(tight_end)
	"\tnop; nop; nop; nop\n"
	"9:\tljmp $0x08, $tight_back\n");
extern char tight_start[], tight_resume[], tight_loop[], tight_end[];

static void tight_hook(struct frame *f)
{
	hook_ecx = f->ecx;
	f->eip = (uint32_t)(tight_resume - ((uint32_t)tight_start & ~0xfffu));
}

static void test_rel8_past_limit(void)
{
	uint32_t base = (uint32_t)tight_start & ~0xfffu;
	gdt_set(S_TIGHT, base, (uint32_t)tight_end - base - 1, ACC_CODE, GRAN_BYTE32);
	gdt_load(GDT_ENTRIES);
	struct { uint32_t off; uint16_t sel; } __attribute__((packed)) fp =
		{ (uint32_t)tight_start - base, S_TIGHT << 3 };
	exc_set_hook(13, tight_hook);
	exc_clear();
	__asm__ volatile("ljmp *%0\n.globl tight_back\ntight_back:"
			 :: "m"(fp) : "eax", "ecx", "memory", "cc");
	exc_set_hook(13, 0);
	check_eq("loop-jecxz-jcc-rel8-not-taken-then-loop-taken", exc_last.vector, 13);
	check_eq("loop-taken-past-limit-eip", exc_last.eip, (uint32_t)(tight_loop - base));
	check_eq("loop-taken-past-limit-ecx", hook_ecx, 2);
}

/* The limit checks of ret and jmp r/m in a limited code segment keep the flags. */
static void test_flags_in_limited_cs(void)
{
	uint32_t cf = 0, zf = 0;
	__asm__ volatile(IN_LIMITED_CS("call 3f; jmp 4f\n3:\tstc; ret\n4:\tsetc %b0")
			 : "+q"(cf) :: "memory", "cc");
	check_eq("ret-keeps-cf-in-limited-cs", cf & 0xff, 1);
	__asm__ volatile(IN_LIMITED_CS("movl $3f, %%edx; xorl %%eax, %%eax; jmp *%%edx\n3:\tsetz %b0")
			 : "+q"(zf) :: "eax", "edx", "memory", "cc");
	check_eq("jmp-reg-keeps-zf-in-limited-cs", zf & 0xff, 1);
}

static void test_operand_size(void)
{
	/* At LOW: mov eax, 1; jmp ebx. */
	static const uint8_t snippet[] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0xff, 0xe3 };
	memcpy((void *)LOW, snippet, sizeof(snippet));
	uint32_t eax;
	__asm__ volatile("movl $1f, %%ebx; xorl %%eax, %%eax; pushw $0x7000; retw\n1:"
			 : "=a"(eax) :: "ebx", "memory");
	check_eq("retw-to-ip", eax, 1);
	__asm__ volatile("movl $1f, %%ebx; xorl %%eax, %%eax; movl $0x12347000, %%ecx; jmpw *%%cx\n1:"
			 : "=a"(eax) :: "ebx", "ecx", "memory");
	check_eq("jmpw-register-ip", eax, 1);
	__asm__ volatile("movl $1f, %%ebx; xorl %%eax, %%eax; .byte 0x66, 0xea; .word 0x7000, 0x08\n1:"
			 : "=a"(eax) :: "ebx", "memory");
	check_eq("ljmp-ptr16-16", eax, 1);
}

static void test_call_ffffffff(void)
{
	/* CS base 0x200000: offset 0xffffffff is linear 0x1fffff (inc ebx), and the next
	 * instruction wraps to offset 0, linear 0x200000 (ret). */
	*(volatile uint8_t *)(BASED - 1) = 0x43;
	*(volatile uint8_t *)BASED = 0xc3;
	uint32_t ebx;
	__asm__ volatile("xorl %%ebx, %%ebx; ljmp $0x20, $(1f - 0x200000)\n"
			 "1:\tmovl $0xffffffff, %%eax; call *%%eax; ljmp $0x08, $2f\n2:"
			 : "=b"(ebx) :: "eax", "memory");
	check_eq("call-to-offset-ffffffff", ebx, 1);
}

static void test_segment_prefixes(void)
{
	words[0] = 0x11;
	words[1024] = 0x22;         /* fs:[&words[0]] with FS base 0x1000 */
	uint32_t a, b, c, d;
	__asm__ volatile("movw %w4, %%fs\n\t"
			 ".byte 0x65, 0x64, 0x8b, 0x08\n\t"     /* gs: fs: mov ecx, [eax] */
			 ".byte 0x64, 0x65, 0x8b, 0x10\n\t"     /* fs: gs: mov edx, [eax] */
			 ".byte 0x2e, 0x64, 0x8b, 0x18\n\t"     /* cs: fs: mov ebx, [eax] */
			 ".byte 0x64, 0x2e, 0x8b, 0x38\n\t"     /* fs: cs: mov edi, [eax] */
			 "movw %w5, %%fs"
			 : "=&c"(a), "=&d"(b), "=&b"(c), "=&D"(d)
			 : "r"(S_FS << 3), "r"(SEL_DATA), "a"(&words[0]) : "memory");
	check_eq("gs-then-fs-prefix", a, 0x22);
	check_eq("fs-then-gs-prefix", b, 0x11);
	check_eq("cs-then-fs-prefix", c, 0x22);
	check_eq("fs-then-cs-prefix", d, 0x11);
}

/* QEMU 7.2 TCG does not check near branch targets against the CS limit. */
/* RETs to 0xffffffff in a code segment with a limit: #GP at the RET with ESP as before
 * it, whether the site's inline cache is still empty (its unfilled compare) or the
 * target goes through the lookup table's empty entry after another site's branch note. */
extern char at_r1[], at_fret[];
__asm__(".text\n" "fn_f:\n\taddl $1, %edx\n" ASM_LABEL(at_fret) "\tret\n");

static void test_ret_ffffffff_limited(void)
{
	EXPECT_EXC("ret-ffffffff-first-run", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"pushl $0xffffffff; movl %%esp, saved_esp\n" ASM_LABEL(at_r1) "ret") ::: "memory"));
	check_eq("ret-ffffffff-first-run-eip", exc_last.eip, (uint32_t)at_r1);
	check_eq("ret-ffffffff-first-run-esp", exc_last.esp, saved_esp);
	uint32_t sum = 0;
	EXPECT_EXC("ret-ffffffff-table", 13, 0, __asm__ volatile(IN_LIMITED_CS(
		"xorl %%edx, %%edx\n\t"
		"call fn_f\n\t"
		"call fn_f\n\t"
		"call fn_f\n\t"
		"movl $3f, %%eax\n\t"
		"jmp *%%eax\n"
		"3:\tpushl $0xffffffff\n\t"
		"leal -4(%%esp), %%eax; movl %%eax, saved_esp\n\t"
		"jmp fn_f") : "=&d"(sum) :: "eax", "memory", "cc"));
	check_eq("ret-ffffffff-table-eip", exc_last.eip, (uint32_t)at_fret);
	check_eq("ret-ffffffff-table-esp", exc_last.esp, saved_esp + 4);
	(void)sum;
}

static const char *const past_limit_checks[] = {
	"jcc-not-taken-past-limit", "ret-past-limit", "ret-past-limit-eip", "ret-past-limit-cs",
	"ret-past-limit-esp", "ret-imm-past-limit", "ret-imm-past-limit-eip",
	"ret-imm-past-limit-esp", "jmp-reg-past-limit", "jmp-reg-past-limit-eip",
	"call-reg-past-limit", "call-reg-past-limit-eip", "call-reg-past-limit-esp",
	"call-mem-past-limit", "call-mem-past-limit-eip", "call-mem-past-limit-esp",
	"jcc-taken-past-limit", "jcc-taken-past-limit-eip",
	"loop-jecxz-jcc-rel8-not-taken-then-loop-taken", "loop-taken-past-limit-eip",
	"loop-taken-past-limit-ecx",
	"ret-ffffffff-first-run", "ret-ffffffff-first-run-eip", "ret-ffffffff-first-run-esp",
	"ret-ffffffff-table", "ret-ffffffff-table-eip", "ret-ffffffff-table-esp",
};

void test_main(void)
{
	guest_init();
	gdt_set(S_LIM, 0, 0x1ff, ACC_CODE, GRAN_4K32);
	gdt_set(S_BASED, BASED, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(S_FS, 0x1000, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	idt_init();
	test_limited_ic();
	if (under_qemu()) {
		for (size_t k = 0; k < sizeof(past_limit_checks) / sizeof(past_limit_checks[0]); k++)
			printf("SKIP %s qemu-does-not-check-near-branches-against-the-cs-limit\n",
			       past_limit_checks[k]);
	} else {
		test_past_limit();
		test_rel8_past_limit();
		test_ret_ffffffff_limited();
	}
	test_flags_in_limited_cs();
	test_operand_size();
	test_call_ffffffff();
	test_segment_prefixes();
}
