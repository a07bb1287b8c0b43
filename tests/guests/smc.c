/*
 * smc.c - self-modifying code: patching code in .data between runs (immediate,
 * opcode, whole body with rep movsb), code that patches the very next instruction
 * or its own block in a loop, a block spanning two pages patched on either page,
 * patching .text, patching through a segment with a nonzero base, a loop calling
 * code patched before every call, and entries into the middle of an instruction.
 */
#include "guest.h"

#define CODE_SEL 0x18   /* data segment whose base is code + 0x1000 */

static uint8_t code[3 * 4096] __attribute__((aligned(4096), section(".data")));
typedef uint32_t (*fn_t)(void);

static uint32_t run(uint8_t *p) { return ((fn_t)p)(); }
static void put32(uint8_t *p, uint32_t v) { *(volatile uint32_t *)p = v; }

static uint8_t *emit(uint8_t *p, const uint8_t *bytes, unsigned n)
{
	memcpy(p, bytes, n);
	return p + n;
}

/* mov $v, %eax; ret */
static void emit_mov_ret(uint8_t *p, uint32_t v)
{
	p[0] = 0xb8;
	put32(p + 1, v);
	p[5] = 0xc3;
}

static void test_patch_between_runs(void)
{
	uint8_t *f = code;
	emit_mov_ret(f, 0x11111111);
	check_eq("fresh-code", run(f), 0x11111111);
	put32(f + 1, 0x22222222);
	check_eq("patch-immediate", run(f), 0x22222222);
	static const uint8_t minus_one[] = { 0x31, 0xc0, 0x48, 0xc3 };    /* xor eax,eax; dec eax; ret */
	emit(f, minus_one, sizeof(minus_one));
	check_eq("patch-opcode", run(f), 0xffffffff);
	static const uint8_t four[] = { 0xb8, 2, 0, 0, 0, 0x01, 0xc0, 0xc3 };  /* mov $2; add eax,eax */
	memcpy(f, four, sizeof(four));
	check_eq("patch-with-rep-movsb", run(f), 4);

	/* mov $0xc3909090, %eax; ret: entered at +1 it is nop; nop; nop; ret. */
	emit_mov_ret(f, 0xc3909090);
	uint32_t a = run(f), b, c;
	__asm__ volatile("movl $7, %%eax; call *%1" : "=&a"(b) : "r"(f + 1) : "ecx", "edx", "memory");
	c = run(f);
	check_eq("overlapping-entry-whole", a, 0xc3909090);
	check_eq("overlapping-entry-whole-again", c, 0xc3909090);
	check_eq("overlapping-entry-middle", b, 7);

	uint32_t sum = 0;
	emit_mov_ret(f, 0);
	for (uint32_t i = 0; i < 1000; i++) {
		put32(f + 1, i * 3);
		sum += run(f);
	}
	check_eq("loop-patch-before-each-call", sum, 3 * 999 * 1000 / 2);
}

static void test_patch_next_instruction(void)
{
	/* movl $new, (X+1); X: mov $0x0bad0bad, %eax; ret */
	uint8_t *f = code + 0x100, *x = f + 10;
	f[0] = 0xc7;
	f[1] = 0x05;
	put32(f + 2, (uint32_t)(x + 1));
	put32(f + 6, 0x12345678);
	emit_mov_ret(x, 0x0bad0bad);
	check_eq("store-into-next-instruction", run(f), 0x12345678);
	put32(f + 6, 0x9abcdef0);
	check_eq("store-into-next-instruction-again", run(f), 0x9abcdef0);

	/* push edi; mov $X+1, %edi; mov $new, %eax; stosl; X: mov $0, %eax; pop edi; ret */
	f = code + 0x200;
	x = f + 12;
	f[0] = 0x57;
	f[1] = 0xbf;
	put32(f + 2, (uint32_t)(x + 1));
	f[6] = 0xb8;
	put32(f + 7, 0x0f0f0f0f);
	f[11] = 0xab;
	emit_mov_ret(x, 0);
	x[5] = 0x5f;
	x[6] = 0xc3;
	check_eq("stosl-into-next-instruction", run(f), 0x0f0f0f0f);

	/* L: mov $n, %eax; inc %eax; mov %eax, (L+1); dec %ecx; jnz L; ret */
	f = code + 0x300;
	static const uint8_t loop[] = { 0xb8, 0, 0, 0, 0, 0x40, 0xa3, 0, 0, 0, 0, 0x49, 0x75, 0xf2, 0xc3 };
	emit(f, loop, sizeof(loop));
	put32(f + 7, (uint32_t)(f + 1));
	uint32_t r, n = 1000;
	__asm__ volatile("call *%2" : "=a"(r), "+c"(n) : "r"(f) : "edx", "memory");
	check_eq("loop-patching-own-block", r, 1000);
	n = 500;
	__asm__ volatile("call *%2" : "=a"(r), "+c"(n) : "r"(f) : "edx", "memory");
	check_eq("loop-patching-own-block-again", r, 1500);
}

static void test_two_pages(void)
{
	/* 0xffa: xor eax,eax; 0xffc: add $a (imm 0xffd..0x1000); 0x1001: add $b; 0x1006: ret */
	uint8_t *f = code + 4096 - 6;
	static const uint8_t body[] = { 0x31, 0xc0, 0x05, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0xc3 };
	emit(f, body, sizeof(body));
	put32(f + 3, 0x01000001);
	put32(f + 8, 0x00000010);
	check_eq("two-page-block", run(f), 0x01000011);
	f[11] = 0x20;            /* top byte of b: second page */
	check_eq("two-page-patch-second-page", run(f), 0x21000011);
	f[6] = 0x03;             /* top byte of a: its first byte on the second page */
	check_eq("two-page-patch-straddling-immediate", run(f), 0x23000011);
	f[3] = 0x05;             /* low byte of a: first page */
	check_eq("two-page-patch-first-page", run(f), 0x23000015);
	for (int i = 0; i < 100; i++) {
		f[8] = i;
		if (run(f) != 0x23000005u + i) {
			fail("two-page-repeated-patch", "iteration %d", i);
			return;
		}
	}
	pass("two-page-repeated-patch");
}

/* A function in .text, patched like kernels patch themselves (alternatives). */
__asm__(".text\n"
	".globl text_fn\n"
	"text_fn:\n\t"
	"movl $0x1234, %eax\n\t"
	"ret\n");
uint32_t text_fn(void);

static void test_other_paths(void)
{
	uint8_t *t = (uint8_t *)text_fn;
	check_eq("text-function", text_fn(), 0x1234);
	put32(t + 1, 0x5678);
	check_eq("patch-text-section", text_fn(), 0x5678);

	/* Write the immediate through ES with base code + 0x1000. */
	uint8_t *f = code + 0x1800;
	emit_mov_ret(f, 1);
	check_eq("segment-alias-before", run(f), 1);
	__asm__ volatile("push %%es; movw %w0, %%es; movl %1, %%es:0x801; pop %%es"
			 :: "r"(CODE_SEL), "r"(0xabcdef01) : "memory");
	check_eq("patch-through-based-segment", run(f), 0xabcdef01);
}

void test_main(void)
{
	guest_init();
	gdt_set(CODE_SEL >> 3, (uint32_t)code + 0x1000, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	test_patch_between_runs();
	test_patch_next_instruction();
	test_two_pages();
	test_other_paths();
}
