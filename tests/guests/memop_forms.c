/*
 * memop_forms.c - instructions of every kind (integer, x87, MMX, SSE, 16-bit
 * addressing, implicit operands) with their memory operand where trapeze must emulate
 * it (a page at the top of linear space, mapped by the guest's tables), each compared
 * with the same instruction on an ordinary page: registers, flags, x87/SSE state and
 * the memory after it must agree. trapeze runs those its own handlers do not know on
 * a copy of the operand (monitor/memop_native.c); before that, most of them stopped
 * the VM. Then the faults such an access must raise, in the SDM's order: #GP(0) for a
 * misaligned 16-byte SSE operand before #PF, #PF with W for a write or a
 * read-modify-write, #PF on the second page of an operand that crosses, #DE, #UD for
 * LOCK.
 *
 * Each form runs from run_form(): EBX = the base of a 1 KiB area (filled with the same
 * pattern each time), FS based there too (for the 16-bit addressing forms), the other
 * registers, EFLAGS, x87 and SSE set to fixed values; afterwards everything is
 * recorded (EBX less the base, and forms that leave an address in a register subtract
 * it themselves).
 */
#include "guest.h"
#include "paging.h"

#define TOP      0xffff0000u            /* emulated: the top 8 MiB of linear space */
#define TOP_PA   (PG_FRAME_A + 0x10000)
#define TOP_RO   (TOP + 0x2000)         /* read-only */
#define TOP_NP   (TOP + 0x3000)         /* not present */
#define AREA     0x400u
#define S_FSLOW  7                      /* 0x38: data based at the ordinary area */
#define S_FSTOP  8                      /* 0x40: data based at TOP */

struct result {
	uint32_t regs[8];
	uint32_t eflags;
	uint32_t pad[7];
	uint8_t fx[512];
} __attribute__((aligned(16)));

static struct result res_low, res_top;
static uint8_t low_area[2 * PAGE] __attribute__((aligned(4096)));
static uint8_t pattern[AREA];

static const uint32_t init_xmm[12] __attribute__((aligned(16))) = {
	0x3fc00000, 0x40200000, 0xbf800000, 0x41200000,         /* 1.5 2.5 -1 10 */
	0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00,
	0x00000000, 0x3ff80000, 0x00000000, 0xc0040000,         /* 1.5 -2.5 as doubles */
};
uint32_t run_fn, run_out, run_base, run_esp;

/* run_form(fn, base, out) */
void run_form(uint32_t fn, uint32_t base, struct result *out);
__asm__(".text\n"
	".globl run_form\nrun_form:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl 20(%esp), %eax\n\tmovl %eax, run_fn\n\t"
	"movl 24(%esp), %ebx\n\tmovl %ebx, run_base\n\t"
	"movl 28(%esp), %eax\n\tmovl %eax, run_out\n\t"
	"movl %esp, run_esp\n\t"
	"fninit\n\tfldpi\n\tfld1\n\tfldl2t\n\t"
	"movdqa init_xmm, %xmm0\n\tmovdqa init_xmm+16, %xmm1\n\tmovdqa init_xmm+32, %xmm2\n\t"
	"movl $3, %eax\n\tmovl $0x10, %ecx\n\tmovl $5, %edx\n\tmovl $0x20, %esi\n\t"
	"movl $0x1234abcd, %edi\n\tmovl $8, %ebp\n\t"
	"pushl $0xc3\n\tpopfl\n\t"
	"call *run_fn\n\t"
	"pushfl\n\tpushl %eax\n\t"
	"movl run_out, %eax\n\t"
	"popl 0(%eax)\n\tpopl 32(%eax)\n\t"
	"movl %ecx, 4(%eax)\n\tmovl %edx, 8(%eax)\n\t"
	"subl run_base, %ebx\n\tmovl %ebx, 12(%eax)\n\t"
	"movl %esp, 16(%eax)\n\tmovl %ebp, 20(%eax)\n\t"
	"movl %esi, 24(%eax)\n\tmovl %edi, 28(%eax)\n\t"
	"fxsave 64(%eax)\n\tfninit\n\temms\n\t"
	"movl run_esp, %esp\n\t"
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\tret\n");

/* The forms: FORM(name, body) defines f_name as body; ret. */
#define FORM(name, body) \
	void f_##name(void); \
	__asm__(".text\n.globl f_" #name "\nf_" #name ":\n\t" body "\n\tret\n");

/* integer */
FORM(imul, "imull 0x58(%ebx), %eax\n\timull $0x1234, 0x58(%ebx), %ecx\n\t"
	   "imull $-3, 0x58(%ebx), %edx")
FORM(mul_div, "mull 0x58(%ebx)\n\txorl %edx, %edx\n\tdivl 0x58(%ebx)\n\t"
	      "movl $0x1234, %eax\n\tcwtd\n\tidivw 0x5c(%ebx)")
FORM(popcnt, "popcntl 0x60(%ebx), %eax\n\tpopcntw 0x62(%ebx), %cx")
FORM(bsf_bsr, "bsfl 0x60(%ebx), %ecx\n\tbsrl 0x60(%ebx), %edx\n\tbsfw 0x78(%ebx), %si")
FORM(cmov, "cmovcl 0x60(%ebx), %esi\n\tcmovzw 0x64(%ebx), %di\n\tcmovol 0x64(%ebx), %edx")
FORM(movnti, "movnti %edi, 0x68(%ebx)")
FORM(lock_xadd, "lock xaddl %edx, 0x6c(%ebx)\n\tlock xaddb %cl, 0x6f(%ebx)")
FORM(cmpxchg8b, "movl %ebx, %esi\n\tmovl 0x70(%esi), %eax\n\tmovl 0x74(%esi), %edx\n\t"
		"movl $0x77, %ebx\n\tcmpxchg8b 0x70(%esi)\n\t"
		"cmpxchg8b 0x70(%esi)\n\tlock cmpxchg8b 0x70(%esi)\n\tsetz %cl\n\t"
		"movl %esi, %ebx\n\txorl %esi, %esi")
FORM(crc32, "crc32l 0x60(%ebx), %eax\n\tcrc32b 0x64(%ebx), %ecx")
FORM(xlat, "movl $0x45, %eax\n\txlatb\n\tmovl %ebx, %esi\n\txorl %ebx, %ebx\n\tmovb $0x10, %al\n\t"
	   ".byte 0x64, 0xd7\n\tmovl %esi, %ebx\n\txorl %esi, %esi")           /* fs xlatb */
FORM(bound, "boundl %ebp, 0x80(%ebx)\n\tboundw %bp, 0x88(%ebx)")
FORM(arpl, "movw $0x13, %cx\n\tarpl %cx, 0x8c(%ebx)\n\tsetz %dl\n\tarpl %cx, 0x8c(%ebx)\n\tsetz %dh")
FORM(shld, "shldl $5, %ecx, 0x60(%ebx)\n\tshrdl %cl, %edx, 0x64(%ebx)\n\tshldw %cl, %dx, 0x66(%ebx)")
FORM(push_pop, "pushl 0x60(%ebx)\n\tpopl 0x68(%ebx)\n\tpushw 0x64(%ebx)\n\tpopw 0x6c(%ebx)")
FORM(jmp_mem, "movl $1f, 0x90(%ebx)\n\tjmp *0x90(%ebx)\n\tud2\n1:\tincl %eax")
FORM(call_mem, "movl $2f, 0x94(%ebx)\n\tcall *0x94(%ebx)\n\tjmp 3f\n2:\tincl %ecx\n\tret\n3:")
FORM(enter, "movl %esp, %edx\n\tleal 0x3f0(%ebx), %ebp\n\tleal 0x380(%ebx), %esp\n\t"
	    "enter $8, $3\n\tmovl %esp, %ecx\n\tsubl %ebx, %ecx\n\tmovl %ebp, %esi\n\t"
	    "subl %ebx, %esi\n\tleave\n\tmovl %edx, %esp\n\tsubl %ebx, %ebp\n\t"
	    "subl %ebx, 0x37c(%ebx)\n\tsubl %ebx, 0x370(%ebx)")
FORM(bt_mem, "movl $35, %ecx\n\tbtsl %ecx, 0x60(%ebx)\n\tmovl $-9, %ecx\n\tbtrl %ecx, 0x68(%ebx)\n\t"
	     "btcw %cx, 0x70(%ebx)\n\tbtl $3, 0x64(%ebx)")
/* 16-bit addressing, through FS (based at the area) */
FORM(a16_mov, "movw $0x30, %di\n\taddr16 movl %fs:8(%di), %ecx\n\taddr16 movl %fs:(%si), %eax\n\t"
	      "addr16 addl %eax, %fs:0x10(%di)\n\t.byte 0x67, 0x64, 0xa1, 0x44, 0x00")
FORM(a16_string, "pushl %es\n\tmovw %fs, %ax\n\tmovw %ax, %es\n\tmovl $0xffff0040, %esi\n\t"
		 "movl $0xabcd0080, %edi\n\tmovl $0x10008, %ecx\n\tcld\n\t"
		 ".byte 0x67, 0x64, 0xf3, 0xa6\n\tpushfl\n\t"    /* addr16 fs repe cmpsb */
		 "movw $0x40, %si\n\tmovw $0x100, %di\n\tmovw $6, %cx\n\t"
		 ".byte 0x67, 0x64, 0xf3, 0xa5\n\t"                 /* addr16 fs rep movsl */
		 "popfl\n\tpopl %es\n\txorl %eax, %eax")
/* x87 */
FORM(fdiv, "fdivl 0x40(%ebx)\n\tfdivrl 0x48(%ebx)\n\tfdivs 0x50(%ebx)\n\tfdivrs 0x50(%ebx)")
FORM(fst, "fsts 0x90(%ebx)\n\tfstl 0x98(%ebx)\n\tfstps 0xa0(%ebx)\n\tfstpt 0xb0(%ebx)\n\tfldt 0xb0(%ebx)")
FORM(fbcd, "fbstp 0xc0(%ebx)\n\tfbld 0xc0(%ebx)")
FORM(fisttp, "fld %st(0)\n\tfisttps 0xd0(%ebx)\n\tfld %st(0)\n\tfisttpl 0xd4(%ebx)")
FORM(fint16, "fiadds 0x5c(%ebx)\n\tfisubs 0x5c(%ebx)\n\tfisubrs 0x5c(%ebx)\n\tfimuls 0x5c(%ebx)\n\t"
	     "ficoms 0x5c(%ebx)\n\tfnstsw %ax\n\tficomps 0x5c(%ebx)\n\tfidivs 0x5c(%ebx)\n\tfilds 0x5c(%ebx)\n\t"
	     "fistps 0xd8(%ebx)")
FORM(fint32, "fiaddl 0x58(%ebx)\n\tfisubl 0x58(%ebx)\n\tfisubrl 0x58(%ebx)\n\tfimull 0x58(%ebx)\n\t"
	     "ficoml 0x58(%ebx)\n\tfnstsw %ax\n\tficompl 0x58(%ebx)\n\tfidivrl 0x58(%ebx)\n\tfildll 0x40(%ebx)\n\t"
	     "fistpll 0xd8(%ebx)")
FORM(fenv, "fnstenv 0x100(%ebx)\n\tfldenv 0x100(%ebx)\n\t"
	   "movl $0, 0x10c(%ebx)\n\tmovl $0, 0x110(%ebx)\n\tmovl $0, 0x114(%ebx)\n\tmovl $0, 0x118(%ebx)")
FORM(fsave, "fnsave 0x100(%ebx)\n\tfrstor 0x100(%ebx)\n\t"
	    "movl $0, 0x10c(%ebx)\n\tmovl $0, 0x110(%ebx)\n\tmovl $0, 0x114(%ebx)\n\tmovl $0, 0x118(%ebx)")
FORM(fxsave, "fxsave 0x200(%ebx)\n\tfxrstor 0x200(%ebx)\n\tmovw $0, 0x206(%ebx)\n\t"
	     "movl $0, 0x208(%ebx)\n\tmovl $0, 0x20c(%ebx)\n\tmovl $0, 0x210(%ebx)\n\tmovl $0, 0x214(%ebx)")
FORM(fcw, "fnstcw 0xdc(%ebx)\n\tfldcw 0xdc(%ebx)\n\tfnstsw 0xde(%ebx)")
/* MMX, SSE */
FORM(mmx, "movq 0x60(%ebx), %mm0\n\tpaddd 0x68(%ebx), %mm0\n\tmovq %mm0, 0x90(%ebx)")
FORM(sse_mov, "movaps 0xe0(%ebx), %xmm0\n\tmovups 0xe4(%ebx), %xmm1\n\tmovaps %xmm2, 0xf0(%ebx)\n\t"
	      "movdqa %xmm1, 0x120(%ebx)\n\tmovdqu %xmm0, 0x131(%ebx)")
FORM(sse_arith, "addps 0xe0(%ebx), %xmm0\n\tmulpd 0xe0(%ebx), %xmm2\n\tpunpcklqdq 0xe0(%ebx), %xmm1\n\t"
		"pshufd $0x1b, 0xe0(%ebx), %xmm2\n\tpaddusb 0x60(%ebx), %xmm1")
FORM(pcmpestrm, "movl $5, %eax\n\tmovl $7, %edx\n\tpcmpestrm $0, 0xe0(%ebx), %xmm1")
FORM(sse_part, "movq %xmm0, 0x90(%ebx)\n\tmovd %xmm1, 0x98(%ebx)\n\tmovhps %xmm2, 0xa0(%ebx)\n\t"
	       "movlps 0x40(%ebx), %xmm0\n\tpinsrw $3, 0x62(%ebx), %xmm1")
FORM(mxcsr, "stmxcsr 0xd8(%ebx)\n\torl $0x6000, 0xd8(%ebx)\n\tldmxcsr 0xd8(%ebx)\n\taddps 0xe0(%ebx), %xmm0")
FORM(maskmov, "movl %edi, %edx\n\tleal 0x140(%ebx), %edi\n\tmaskmovdqu %xmm1, %xmm2\n\t"
	      "leal 0x150(%ebx), %edi\n\tmaskmovq %mm1, %mm0\n\tmovl %edx, %edi")
FORM(sse_flags, "comisd 0x40(%ebx), %xmm2\n\tcvtsi2sdl 0x58(%ebx), %xmm1\n\tcvttsd2si 0x40(%ebx), %eax\n\t"
		"ucomiss 0x50(%ebx), %xmm0")

struct form { const char *name; void (*fn)(void); uint32_t feature; };
#define F_SSE41  (1u << 19)             /* CPUID.1:ECX */
#define F_SSE42  (1u << 20)
#define F_POPCNT (1u << 23)
#define F_SSE3   (1u << 0)
#define F(n, feat) { "form-" #n, f_##n, feat }
static const struct form forms[] = {
	F(imul, 0), F(mul_div, 0), F(popcnt, F_POPCNT), F(bsf_bsr, 0), F(cmov, 0), F(movnti, 0),
	F(lock_xadd, 0), F(cmpxchg8b, 0), F(crc32, F_SSE42), F(xlat, 0), F(bound, 0), F(arpl, 0),
	F(shld, 0), F(push_pop, 0), F(jmp_mem, 0), F(call_mem, 0), F(enter, 0), F(bt_mem, 0),
	F(a16_mov, 0), F(a16_string, 0),
	F(fdiv, 0), F(fst, 0), F(fbcd, 0), F(fisttp, F_SSE3), F(fint16, 0), F(fint32, 0), F(fenv, 0),
	F(fsave, 0), F(fxsave, 0), F(fcw, 0),
	F(mmx, 0), F(sse_mov, 0), F(sse_arith, 0), F(pcmpestrm, F_SSE42), F(sse_part, 0),
	F(mxcsr, 0), F(sse_flags, 0), F(maskmov, 0),
};

static void fill_pattern(void)
{
	for (uint32_t k = 0; k < AREA; k++)
		pattern[k] = (uint8_t)(k * 37 + 11);
	static const double d[2] = { 3.5, -1.25 };
	float f = 2.5f;
	int32_t i32 = 7;
	int16_t i16 = -3;
	memcpy(pattern + 0x40, d, sizeof(d));
	memcpy(pattern + 0x50, &f, 4);
	memcpy(pattern + 0x58, &i32, 4);
	memcpy(pattern + 0x5c, &i16, 2);
	int32_t bounds[2] = { 0, 100 };
	int16_t bounds16[2] = { -5, 9 };
	memcpy(pattern + 0x80, bounds, 8);
	memcpy(pattern + 0x88, bounds16, 4);
	uint16_t sel = 0x0011;                  /* RPL 1 */
	memcpy(pattern + 0x8c, &sel, 2);
	memcpy(pattern + 0xe0, init_xmm, 16);   /* floats at 0xe0 (aligned) */
	memcpy(pattern + 0x3e8, "\x10\x20\x30\x40\x50\x60\x70\x80", 8);    /* old frame */
}

static int same_fx(const uint8_t *a, const uint8_t *b)
{
	/* FCW FSW FTW, then MXCSR on (FOP and the x87 pointers are the code's and the
	 * operand's own addresses: they differ). */
	return !memcmp(a, b, 6) && !memcmp(a + 24, b + 24, 288 - 24);
}

static void run_one(const struct form *f)
{
	uint8_t *top = (uint8_t *)TOP_PA;
	memcpy(low_area, pattern, AREA);
	memcpy(top, pattern, AREA);
	__asm__ volatile("movw $0x38, %%ax; movw %%ax, %%fs" ::: "eax");
	run_form((uint32_t)f->fn, (uint32_t)low_area, &res_low);
	__asm__ volatile("movw $0x40, %%ax; movw %%ax, %%fs" ::: "eax");
	uint32_t v = (uint32_t)EXC(run_form((uint32_t)f->fn, TOP, &res_top));
	__asm__ volatile("movw $0x10, %%ax; movw %%ax, %%fs" ::: "eax");
	const char *name = f->name;
	if (v != (uint32_t)-1) {
		fail(name, "exception %d error %x at %08x", (int)v, exc_last.error, exc_last.eip);
		return;
	}
	for (int r = 0; r < 8; r++)
		if (res_low.regs[r] != res_top.regs[r]) {
			fail(name, "register %d %08x want %08x", r, res_top.regs[r], res_low.regs[r]);
			return;
		}
	if ((res_low.eflags ^ res_top.eflags) & 0x8d5) {
		fail(name, "eflags %08x want %08x", res_top.eflags, res_low.eflags);
		return;
	}
	if (!same_fx(res_low.fx, res_top.fx)) {
		fail(name, "x87/SSE state differs");
		return;
	}
	for (uint32_t k = 0; k < AREA; k++)
		if (low_area[k] != top[k]) {
			fail(name, "memory at +%x %x want %x", k, top[k], low_area[k]);
			return;
		}
	pass(name);
}

/* ---- the faults ---- */

FORM(movaps_np, "movaps 0x3004(%ebx), %xmm0")
FORM(fsts_ro, "fsts 0x2010(%ebx)")
FORM(fadds_np, "fadds 0x3010(%ebx)")
FORM(cmpxchg8b_ro, "lock cmpxchg8b 0x2018(%ebx)")
FORM(shld_np, "shldl $3, %ecx, 0x3020(%ebx)")
FORM(fstl_cross, "fstl 0x1ffc(%ebx)")
FORM(div_zero, "movl $0x1234, %eax\n\tdivl 0x9c(%ebx)")
FORM(lock_movaps, ".byte 0xf0, 0x0f, 0x28, 0x43, 0x60")
FORM(bound_out, "movl $200, %ebp\n\tboundl %ebp, 0x80(%ebx)")

static uint32_t run_fault(void (*fn)(void))
{
	uint8_t *top = (uint8_t *)TOP_PA;
	memcpy(top, pattern, AREA);
	memset(top + 0x9c, 0, 4);
	__asm__ volatile("movw $0x40, %%ax; movw %%ax, %%fs" ::: "eax");
	pf_reset();
	uint32_t v = (uint32_t)EXC(run_form((uint32_t)fn, TOP, &res_top));
	__asm__ volatile("movw $0x10, %%ax; movw %%ax, %%fs; fninit" ::: "eax");
	return v;
}

static void expect_pf(const char *name, void (*fn)(void), uint32_t err, uint32_t cr2)
{
	uint32_t v = run_fault(fn);
	pf_expect_mask(name, (int)v, err, 0xffffffffu, cr2, (const void *)fn);
}

/* The same where QEMU TCG reports a read-modify-write's #PF without W. */
static void expect_pf_rmw(const char *name, void (*fn)(void), uint32_t err, uint32_t cr2)
{
	uint32_t v = run_fault(fn);
	if (under_qemu())
		printf("SKIP %s QEMU reports a read-modify-write as a read\n", name);
	else
		pf_expect_mask(name, (int)v, err, 0xffffffffu, cr2, (const void *)fn);
}

static void fault_tests(void)
{
	uint8_t *ro = (uint8_t *)TOP_PA + 0x2000;
	/* Item: a misaligned 16-byte SSE operand is #GP(0) before its page's #PF. */
	uint32_t v = run_fault(f_movaps_np);
	expect_exc("movaps-misaligned-not-present-gp", (int)v, 13, 0);
	expect_pf("fsts-read-only-pf-w", f_fsts_ro, PF_P | PF_W, TOP_RO + 0x10);
	expect_pf("fadds-not-present-pf-read", f_fadds_np, 0, TOP_NP + 0x10);
	memset(ro + 0x18, 0x5a, 8);
	expect_pf("lock-cmpxchg8b-read-only-pf-w", f_cmpxchg8b_ro, PF_P | PF_W, TOP_RO + 0x18);
	expect_pf_rmw("shld-not-present-pf-w", f_shld_np, PF_W, TOP_NP + 0x20);
	/* An 8-byte store whose second half lies on the read-only page: #PF there, the
	 * first page untouched. */
	uint8_t *top = (uint8_t *)TOP_PA;
	memset(top + 0x1ffc, 0xee, 4);
	expect_pf("fstl-crossing-pf-second-page", f_fstl_cross, PF_P | PF_W, TOP_RO);
	check_eq("fstl-crossing-first-page-untouched", *(uint32_t *)(top + 0x1ffc), 0xeeeeeeee);
	v = run_fault(f_div_zero);
	expect_exc("div-by-zero-de", (int)v, 0, -1);
	v = run_fault(f_lock_movaps);
	expect_exc("lock-movaps-ud", (int)v, 6, -1);
	v = run_fault(f_bound_out);
	expect_exc("bound-out-of-range-br", (int)v, 5, -1);
}

void test_main(void)
{
	guest_init();
	idt_init();
	write_cr4(read_cr4() | 0x600);          /* OSFXSR, OSXMMEXCPT */
	write_cr0((read_cr0() & ~0x4u) | 0x22); /* EM off; MP, NE on */
	gdt_set(S_FSLOW, (uint32_t)low_area, 0xfffff, 0x93, GRAN_4K32);
	gdt_set(S_FSTOP, TOP, 0xfffff, 0x93, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	fill_pattern();
	uint32_t id[4];
	cpuid(1, id);

	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	pg_map(pd, TOP, TOP_PA, PG_P | PG_W);
	pg_map(pd, TOP + 0x1000, TOP_PA + 0x1000, PG_P | PG_W);
	pg_map(pd, TOP_RO, TOP_PA + 0x2000, PG_P);
	pg_on(pd);
	pg_set_wp(1);                           /* read-only pages bind CPL 0 too */
	for (unsigned k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
		if (forms[k].feature && !(id[2] & forms[k].feature)) {
			printf("SKIP %s the CPU lacks the feature\n", forms[k].name);
			continue;
		}
		run_one(&forms[k]);
	}
	fault_tests();
	pg_off();
	guest_finish();
}
