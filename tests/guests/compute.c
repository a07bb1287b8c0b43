/*
 * compute.c - ordinary computation the translator must reproduce exactly: CRC32
 * (table vs bitwise), recursion, a switch-dispatched interpreter, indirect calls,
 * string instructions with DF=0/1, 64-bit arithmetic, setjmp/longjmp via indirect
 * jumps, LOOP/JECXZ, PUSH/POP ESP, CALL-next-instruction to read EIP, x87 and SSE.
 */
#include "guest.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define NOINLINE __attribute__((noinline))

/* ---- CRC32 ---- */
static uint32_t crc_table[256];

static uint32_t crc32_bitwise(const uint8_t *p, unsigned n)
{
	uint32_t c = 0xffffffff;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320 & -(c & 1));
	}
	return ~c;
}

static uint32_t crc32_table(const uint8_t *p, unsigned n)
{
	uint32_t c = 0xffffffff;
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

static void test_crc(void)
{
	static uint8_t buf[4096];
	uint32_t x = 12345;
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	for (unsigned i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = x >> 16;
	}
	check_eq("crc32-check-value-bitwise", crc32_bitwise((const uint8_t *)"123456789", 9), 0xcbf43926);
	check_eq("crc32-check-value-table", crc32_table((const uint8_t *)"123456789", 9), 0xcbf43926);
	check_eq("crc32-4k-table-vs-bitwise", crc32_table(buf, sizeof(buf)), crc32_bitwise(buf, sizeof(buf)));
}

/* ---- recursion, switch dispatch, indirect calls ---- */
static NOINLINE uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

enum { OP_PUSH, OP_ADD, OP_MUL, OP_DUP, OP_SWAP, OP_DEC, OP_JNZ, OP_DROP, OP_OVER, OP_HALT };

/* A stack machine; gcc compiles the dense switch into a jump table. */
static NOINLINE uint32_t interpret(const int32_t *code)
{
	uint32_t st[16], sp = 0;
	for (unsigned pc = 0;;) {
		switch (code[pc++]) {
		case OP_PUSH: st[sp++] = code[pc++]; break;
		case OP_ADD: sp--; st[sp - 1] += st[sp]; break;
		case OP_MUL: sp--; st[sp - 1] *= st[sp]; break;
		case OP_DUP: st[sp] = st[sp - 1]; sp++; break;
		case OP_SWAP: { uint32_t t = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = t; break; }
		case OP_DEC: st[sp - 1]--; break;
		case OP_JNZ: pc = st[sp - 1] ? (unsigned)code[pc] : pc + 1; break;
		case OP_DROP: sp--; break;
		case OP_OVER: st[sp] = st[sp - 2]; sp++; break;
		case OP_HALT: return st[sp - 1];
		default: return 0xbad;
		}
	}
}

static uint32_t op_add3(uint32_t x) { return x + 3; }
static uint32_t op_mul5(uint32_t x) { return x * 5; }
static uint32_t op_xor(uint32_t x) { return x ^ 0x5a5a5a5a; }
static uint32_t op_rol(uint32_t x) { return x << 7 | x >> 25; }
static uint32_t (*const volatile ops[])(uint32_t) = { op_add3, op_mul5, op_xor, op_rol };

static void test_control(void)
{
	volatile uint32_t n = 24;
	uint32_t a = 0, b = 1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t t = a + b;
		a = b;
		b = t;
	}
	check_eq("fib-recursive", fib(n), 46368);
	check_eq("fib-iterative", a, 46368);

	/* [acc n]: acc += n*n; n--; loop while n != 0 */
	static const int32_t loop[] = {
		OP_PUSH, 0, OP_PUSH, 100,
		/* 4 */ OP_SWAP, OP_OVER, OP_DUP, OP_MUL, OP_ADD,   /* n acc+n*n */
		OP_SWAP, OP_DEC,                                 /* acc' n-1 */
		OP_JNZ, 4,
		OP_DROP, OP_HALT,
	};
	check_eq("switch-interpreter-sum-of-squares", interpret(loop), 338350);
	static const int32_t fact[] = {
		OP_PUSH, 1, OP_PUSH, 10,
		/* 4 */ OP_SWAP, OP_OVER, OP_MUL, OP_SWAP, OP_DEC, OP_JNZ, 4,
		OP_DROP, OP_HALT,
	};
	check_eq("switch-interpreter-factorial", interpret(fact), 3628800);

	uint32_t x = 1, y = 1;
	for (unsigned i = 0; i < 1000; i++) {
		x = ops[i % N_OF(ops)](x);
		switch (i % 4) {
		case 0: y += 3; break;
		case 1: y *= 5; break;
		case 2: y ^= 0x5a5a5a5a; break;
		default: y = y << 7 | y >> 25; break;
		}
	}
	check_eq("indirect-call-table", x, y);
}

/* ---- string instructions ---- */
static void test_strings(void)
{
	static uint8_t src[128], dst[128];
	static uint32_t words[20];
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = i * 7 + 1;

	void *si = src, *di = dst;
	uint32_t n = 100;
	memset(dst, 0, sizeof(dst));
	__asm__ volatile("cld; rep movsb" : "+S"(si), "+D"(di), "+c"(n) :: "memory");
	check(memcmp(dst, src, 100) == 0 && dst[100] == 0, "rep-movsb-forward");
	check(si == src + 100 && di == dst + 100 && n == 0, "rep-movsb-forward-registers");

	/* DF=1, overlapping: shift src[0..99] up by one byte, as memmove does. */
	memcpy(dst, src, sizeof(dst));
	si = src + 99;
	di = src + 100;
	n = 100;
	__asm__ volatile("std; rep movsb; cld" : "+S"(si), "+D"(di), "+c"(n) :: "memory");
	int ok = src[0] == dst[0];
	for (int i = 1; i <= 100; i++)
		ok &= src[i] == dst[i - 1];
	check(ok, "rep-movsb-backward-overlap");
	check((uintptr_t)si == (uintptr_t)src - 1 && di == src, "rep-movsb-backward-registers");
	memcpy(src, dst, sizeof(src));

	di = words + 2;
	n = 16;
	memset(words, 0, sizeof(words));
	__asm__ volatile("cld; rep stosl" : "+D"(di), "+c"(n) : "a"(0xdeadbeef) : "memory");
	ok = words[1] == 0 && words[18] == 0 && di == words + 18;
	for (int i = 2; i < 18; i++)
		ok &= words[i] == 0xdeadbeef;
	check(ok, "rep-stosl-forward");
	di = words + 17;
	n = 16;
	__asm__ volatile("std; rep stosl; cld" : "+D"(di), "+c"(n) : "a"(0x01020304) : "memory");
	ok = words[1] == 0 && words[18] == 0 && di == words + 1;
	for (int i = 2; i < 18; i++)
		ok &= words[i] == 0x01020304;
	check(ok, "rep-stosl-backward");

	/* repe cmpsb stops after the first difference, at index 37. */
	memcpy(dst, src, sizeof(dst));
	dst[37] ^= 0xff;
	si = src;
	di = dst;
	n = 100;
	uint8_t zf;
	__asm__ volatile("cld; repe cmpsb; setz %3" : "+S"(si), "+D"(di), "+c"(n), "=q"(zf) :: "cc");
	check(zf == 0 && n == 100 - 38 && si == src + 38 && di == dst + 38, "repe-cmpsb-forward");
	si = src + 99;
	di = dst + 99;
	n = 100;
	__asm__ volatile("std; repe cmpsb; setz %3; cld" : "+S"(si), "+D"(di), "+c"(n), "=q"(zf) :: "cc");
	check(zf == 0 && n == 37 && si == src + 36 && di == dst + 36, "repe-cmpsb-backward");
	si = src;
	di = src;
	n = 100;
	__asm__ volatile("cld; repe cmpsb; setz %3" : "+S"(si), "+D"(di), "+c"(n), "=q"(zf) :: "cc");
	check(zf == 1 && n == 0, "repe-cmpsb-equal");

	static const char str[] = "the quick brown fox";
	di = (void *)str;
	n = 0xffffffff;
	__asm__ volatile("cld; repne scasb" : "+D"(di), "+c"(n) : "a"(0) : "cc");
	check_eq("repne-scasb-strlen", ~n - 1, sizeof(str) - 1);

	uint32_t sum = 0, al = 0;
	si = src;
	n = 50;
	__asm__ volatile("1: lodsb; addl %%eax, %0; loop 1b"
			 : "+r"(sum), "+S"(si), "+c"(n), "+a"(al) :: "cc");
	uint32_t want = 0;
	for (int i = 0; i < 50; i++)
		want += src[i];
	check_eq("lodsb-loop-sum", sum, want);
}

/* ---- 64-bit arithmetic (no division: there is no libgcc) ---- */
static NOINLINE uint64_t mul64(uint64_t a, uint64_t b) { return a * b; }

/* Low 64 bits of a*b from 16-bit limbs, schoolbook. */
static uint64_t mul64_limbs(uint64_t a, uint64_t b)
{
	uint16_t x[4], y[4];
	uint32_t r[4] = { 0, 0, 0, 0 };
	for (int i = 0; i < 4; i++) {
		x[i] = a >> (16 * i);
		y[i] = b >> (16 * i);
	}
	for (int i = 0; i < 4; i++) {
		uint32_t carry = 0;
		for (int j = 0; i + j < 4; j++) {
			uint32_t t = (uint32_t)x[i] * y[j];
			uint32_t lo = (t & 0xffff) + r[i + j] + carry;
			r[i + j] = lo & 0xffff;
			carry = (lo >> 16) + (t >> 16);
		}
	}
	return (uint64_t)(r[3] << 16 | r[2]) << 32 | (r[1] << 16 | r[0]);
}

static void test_int64(void)
{
	volatile uint64_t a = 0x123456789abcdef1ull, b = 0xfedcba9876543211ull;
	volatile uint32_t one = 1;
	volatile int64_t neg = (int64_t)0x8000000000000000ull;
	check(mul64(a, b) == mul64_limbs(a, b), "u64-multiply");
	uint32_t lo, hi;
	__asm__ volatile("mull %3" : "=a"(lo), "=d"(hi) : "a"(0xdeadbeef), "rm"(0xcafebabe));
	check(((uint64_t)hi << 32 | lo) == mul64_limbs(0xdeadbeef, 0xcafebabe), "mull-edx-eax");
	check((uint64_t)0xffffffffu + one == 0x100000000ull, "u64-add-carry");
	check((uint64_t)0x100000000ull - one == 0xffffffffull, "u64-sub-borrow");
	check((int64_t)(0 - (uint64_t)one) < (int64_t)one, "s64-compare");

	uint64_t f0 = 0, f1 = 1;
	for (uint32_t i = 0; i < 90 * one; i++) {
		uint64_t t = f0 + f1;
		f0 = f1;
		f1 = t;
	}
	check(f0 == 2880067194370816120ull, "u64-fib-90");

	int ok = 1;
	uint64_t p = 1;
	for (uint32_t s = 0; s < 64; s++, p += p) {
		uint64_t v = a;
		ok &= ((uint64_t)one << s) == p;
		ok &= (v << s) == mul64(v, p);
		ok &= ((v >> s) << s) == (v & ~(p - 1));
		ok &= (uint64_t)(neg >> s) == ~((0x8000000000000000ull >> s) - 1);
	}
	check(ok, "u64-shifts-0-63");
}

/* ---- setjmp/longjmp ---- */
__asm__(".text\n"
	".globl my_setjmp\n"
	"my_setjmp:\n\t"            /* int my_setjmp(uint32_t buf[6]) */
	"movl 4(%esp), %eax\n\t"
	"movl %ebx, 0(%eax)\n\t"
	"movl %esi, 4(%eax)\n\t"
	"movl %edi, 8(%eax)\n\t"
	"movl %ebp, 12(%eax)\n\t"
	"leal 4(%esp), %ecx\n\t"
	"movl %ecx, 16(%eax)\n\t"
	"movl (%esp), %ecx\n\t"
	"movl %ecx, 20(%eax)\n\t"
	"xorl %eax, %eax\n\t"
	"ret\n"
	".globl my_longjmp\n"
	"my_longjmp:\n\t"           /* void my_longjmp(uint32_t buf[6], int v) */
	"movl 4(%esp), %edx\n\t"
	"movl 8(%esp), %eax\n\t"
	"testl %eax, %eax\n\t"
	"jnz 1f\n\t"
	"incl %eax\n"
	"1:\tmovl 0(%edx), %ebx\n\t"
	"movl 4(%edx), %esi\n\t"
	"movl 8(%edx), %edi\n\t"
	"movl 12(%edx), %ebp\n\t"
	"movl 16(%edx), %esp\n\t"
	"jmp *20(%edx)\n");
__attribute__((returns_twice)) int my_setjmp(uint32_t buf[6]);
void my_longjmp(uint32_t buf[6], int v);    /* does not return */

static uint32_t jb[6];
static volatile int depth;

static NOINLINE void dive(int n, int v)
{
	depth++;
	if (n == 0)
		my_longjmp(jb, v);
	else
		dive(n - 1, v);
	depth = -1000;  /* not reached */
}

static void test_setjmp(void)
{
	volatile int rounds = 0;
	depth = 0;
	int r = my_setjmp(jb);
	rounds++;
	if (r == 0)
		dive(50, 42);
	check(r == 42 && rounds == 2 && depth == 51, "longjmp-from-depth-50");
	r = my_setjmp(jb);
	if (r == 0)
		dive(3, 0);
	check_eq("longjmp-zero-becomes-one", r, 1);
}

/* ---- LOOP/JECXZ, PUSH/POP ESP, CALL next ---- */
static void test_asm_idioms(void)
{
	uint32_t sum, taken, n, esp, v;
	__asm__ volatile("xorl %0, %0; movl $100, %%ecx\n1:\taddl %%ecx, %0; loop 1b"
			 : "=&r"(sum) :: "ecx", "cc");
	check_eq("loop-sum", sum, 5050);
	__asm__ volatile("movl $1, %0; xorl %%ecx, %%ecx; jecxz 1f; movl $0, %0\n1:" : "=&r"(taken) :: "ecx");
	check_eq("jecxz-taken", taken, 1);
	__asm__ volatile("movl $1, %0; movl $5, %%ecx; jecxz 1f; movl $0, %0\n1:" : "=&r"(taken) :: "ecx");
	check_eq("jecxz-not-taken", taken, 0);
	static const uint8_t bytes[] = { 3, 3, 3, 3, 9, 3, 3 };
	/* loope: run while the byte is 3 (ZF=1) and ECX != 0 */
	__asm__ volatile("movl $7, %%ecx; movl %1, %%esi\n1:\tlodsb; cmpb $3, %%al; loope 1b; movl %%ecx, %0"
			 : "=r"(n) : "r"(bytes) : "eax", "ecx", "esi", "cc");
	check_eq("loope-stops-on-mismatch", n, 2);
	__asm__ volatile("movl $7, %%ecx; movl %1, %%esi\n1:\tlodsb; cmpb $9, %%al; loopne 1b; movl %%ecx, %0"
			 : "=r"(n) : "r"(bytes) : "eax", "ecx", "esi", "cc");
	check_eq("loopne-stops-on-match", n, 2);

	__asm__ volatile("movl %%esp, %1; pushl %%esp; popl %0" : "=r"(v), "=r"(esp));
	check_eq("push-esp-pushes-old-value", v, esp);
	__asm__ volatile("movl %%esp, %%edx; leal -64(%%esp), %%eax; pushl %%eax; popl %%esp\n\t"
			 "movl %%esp, %0; movl %%edx, %%esp; subl %%edx, %0" : "=&r"(v) :: "eax", "edx");
	check_eq("pop-esp-loads-value", v, -64);
	__asm__ volatile("pushl $0x1111; pushl $0x2222; popl (%%esp); popl %0" : "=r"(v));
	check_eq("pop-to-esp-relative-after-increment", v, 0x2222);

	extern char here[];
	__asm__ volatile("call 1f\n" ASM_LABEL(here) "1:\tpopl %0" : "=r"(v));
	check_eq("call-next-reads-eip", v, (uint32_t)here);
}

/* ---- x87 and SSE ---- */
static uint64_t bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static uint32_t bitsf(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static void test_x87(void)
{
	volatile double one = 1.0, three = 3.0, two = 2.0;
	double r;
	uint16_t cw, sw;
	__asm__ volatile("fninit; fnstcw %0; fnstsw %1" : "=m"(cw), "=m"(sw));
	check(cw == 0x037f && sw == 0, "x87-fninit-state");
	check(bits(one / three) == 0x3fd5555555555555ull, "x87-divide");
	__asm__("fsqrt" : "=t"(r) : "0"(two));
	check(bits(r) == 0x3ff6a09e667f3bcdull, "x87-fsqrt");
	__asm__("fldpi" : "=t"(r));
	check(bits(r) == 0x400921fb54442d18ull, "x87-fldpi");
	int32_t i1, i2;
	volatile double h1 = 2.5, h2 = -3.5;
	__asm__ volatile("fistpl %0" : "=m"(i1) : "t"(h1) : "st");
	__asm__ volatile("fistpl %0" : "=m"(i2) : "t"(h2) : "st");
	check(i1 == 2 && i2 == -4, "x87-fistp-round-to-even");
	volatile long double big = 1.0L, tiny = 0x1p-60L;
	long double sum = big + tiny;
	check(sum - big == tiny, "x87-extended-precision");
	volatile double a = 1e300;
	check(bits(a * a) == 0x7ff0000000000000ull, "x87-overflow-to-infinity");
}

/* No clobber lists: this -march never lets the compiler use XMM registers itself. */
static void test_sse(void)
{
	uint32_t r[4];
	cpuid(1, r);
	check_eq("cpuid-sse-sse2", r[3] & (3u << 25), 3u << 25);

	EXPECT_EXC("sse-ud-without-osfxsr", 6, 0, __asm__ volatile("xorps %%xmm0, %%xmm0" ::: "memory"));
	write_cr0((read_cr0() & ~4u) | 2u);
	write_cr4(read_cr4() | 0x600);

	volatile float a = 1.5f, b = 2.0f, c = 0.25f;
	float f;
	__asm__ volatile("movss %1, %%xmm0; mulss %2, %%xmm0; addss %3, %%xmm0; movss %%xmm0, %0"
			 : "=m"(f) : "m"(a), "m"(b), "m"(c));
	check_eq("sse-mulss-addss", bitsf(f), 0x40500000);
	volatile double two = 2.0, m = -2.75, h = 2.5, p = 2.7;
	double d;
	__asm__ volatile("sqrtsd %1, %%xmm1; movsd %%xmm1, %0" : "=m"(d) : "m"(two));
	check(bits(d) == 0x3ff6a09e667f3bcdull, "sse2-sqrtsd");
	int32_t t, n;
	__asm__ volatile("cvttsd2si %1, %0" : "=r"(t) : "m"(m));
	__asm__ volatile("cvtsd2si %1, %0" : "=r"(n) : "m"(h));
	check(t == -2 && n == 2, "sse2-convert");

	static const uint32_t x[4] __attribute__((aligned(16))) = { 1, 2, 3, 0xffffffff };
	static const uint32_t y[4] __attribute__((aligned(16))) = { 10, 20, 30, 2 };
	uint32_t z[4] __attribute__((aligned(16)));
	__asm__ volatile("movdqa %1, %%xmm2; paddd %2, %%xmm2; movdqa %%xmm2, %0"
			 : "=m"(z) : "m"(x), "m"(y));
	check(z[0] == 11 && z[1] == 22 && z[2] == 33 && z[3] == 1, "sse2-paddd");

	uint32_t csr, csr2, saved;
	__asm__ volatile("stmxcsr %0" : "=m"(saved));
	csr = (saved & ~0x6000) | 0x6000;      /* round toward zero */
	__asm__ volatile("ldmxcsr %2; stmxcsr %0; cvtsd2si %3, %1; ldmxcsr %4"
			 : "=m"(csr2), "=r"(t) : "m"(csr), "m"(p), "m"(saved));
	__asm__ volatile("cvtsd2si %1, %0" : "=r"(n) : "m"(p));
	check(csr2 == csr && t == 2 && n == 3, "sse-mxcsr-rounding");

	static uint8_t fx[512] __attribute__((aligned(16)));
	static const uint32_t ones[4] __attribute__((aligned(16))) = { 1, 1, 1, 1 };
	__asm__ volatile("movdqa %2, %%xmm3; fxsave %0; pxor %%xmm3, %%xmm3; fxrstor %0; movdqa %%xmm3, %1"
			 : "+m"(fx), "=m"(z) : "m"(ones));
	uint32_t fxcsr;
	memcpy(&fxcsr, fx + 24, 4);
	check(z[0] == 1 && z[1] == 1 && z[2] == 1 && z[3] == 1, "fxsave-fxrstor-xmm");
	check_eq("fxsave-mxcsr", fxcsr, saved);
}

/* The guest's x87 and SSE state across monitor exits (port I/O, CPUID), with every
 * floating-point exception unmasked and a value on the x87 stack: the monitor runs
 * with the guest's control words loaded and must neither change them nor trip on
 * them. */
static void test_fpu_across_exits(void)
{
	static const uint32_t pat[4] __attribute__((aligned(16))) = { 0x11, 0x22, 0x33, 0x44 };
	static uint32_t back[4] __attribute__((aligned(16)));
	uint16_t fcw = 0x0340, fcw_saved, fcw2;         /* all x87 exceptions unmasked */
	uint32_t csr = 0x0000, csr_saved, csr2;         /* all SSE exceptions unmasked */
	uint32_t r[4];
	double x = 2.5, y = 0;
	__asm__ volatile("fnstcw %0; stmxcsr %1" : "=m"(fcw_saved), "=m"(csr_saved));
	__asm__ volatile("fnclex; fldcw %0; ldmxcsr %1; movdqa %2, %%xmm5; fldl %3"
			 :: "m"(fcw), "m"(csr), "m"(pat), "m"(x));
	for (int k = 0; k < 100; k++) {
		outb(0x80, (uint8_t)k);
		(void)inb(0x61);
		cpuid(0, r);
	}
	__asm__ volatile("fstpl %0; movdqa %%xmm5, %1; fnstcw %2; stmxcsr %3"
			 : "=m"(y), "=m"(back), "=m"(fcw2), "=m"(csr2));
	__asm__ volatile("fldcw %0; ldmxcsr %1" :: "m"(fcw_saved), "m"(csr_saved));
	check_eq("fpu-exits-fcw", fcw2, fcw);
	check_eq("fpu-exits-mxcsr", csr2, csr);
	check(y == 2.5, "fpu-exits-x87-stack");
	check(back[0] == 0x11 && back[3] == 0x44, "fpu-exits-xmm");
}

void test_main(void)
{
	guest_init();
	test_crc();
	test_control();
	test_strings();
	test_int64();
	test_setjmp();
	test_asm_idioms();
	test_x87();
	test_sse();
	test_fpu_across_exits();
}
