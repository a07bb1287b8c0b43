/*
 * test_memop.c - the memory-instruction emulator (monitor/memop.c), one guest
 * instruction at a time.
 *
 * Each test places an instruction at TVM_CODE, sets registers, flags, segments and
 * memory, calls memop_emulate() directly and checks registers, flags, memory and EIP.
 * Most families are also checked differentially: the same instruction from the same
 * state is first run natively (translated by trapeze and executed by the host CPU,
 * followed by "out 0xf4, al"), then emulated, and everything must agree, undefined
 * flags included: the CPU's own result is the reference. A few results are
 * hand-computed so a shared mistake cannot hide. Faults: segment limits and rights
 * (#GP, #SS) and, with paging on, #PF, each leaving the state as it was. The
 * emulators' shared decode (monitor/decode.h) is checked field by field too.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testvm.h"
#include "../../monitor/memop.h"
#include "../../monitor/segments.h"
#include "../../shadowmmu/mem.h"
#include "../../shadowmmu/mmu.h"
#include "../../shadowmmu/walk.h"

static struct vm vm;

static void setup(void) { tvm_create(&vm); }
static void teardown(void) { vm_destroy(&vm); }

#define SH (vm.cpu.sh)
#define REG(r) (SH->regs[r])
#define D TVM_DATA
#define STATUS (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* ---- helpers ---- */

static uint32_t rng = 0x2545f491;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Random operand values, a third of them at the edges where flags change. */
static uint32_t rnd_val(void)
{
	static const uint32_t edge[] = { 0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
					 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe };
	uint32_t r = rnd();
	return r % 3 == 0 ? edge[rnd() % (sizeof(edge) / sizeof(edge[0]))] : rnd();
}

static void set_flags(uint32_t f)
{
	SH->eflags = (SH->eflags & ~FL_ARITH) | (f & FL_ARITH);
}

static uint32_t flags(void) { return SH->eflags & FL_ARITH; }

static uint8_t *ram(uint32_t pa, uint32_t len)
{
	uint8_t *p = mem_phys(&vm.mem, pa, len);
	ck_assert_ptr_nonnull(p);
	return p;
}

static void fill_random(uint32_t pa, uint32_t len)
{
	uint8_t *p = ram(pa, len);
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

/* What an instruction may change: registers, flags, EIP and two memory windows. */
#define WIN_DATA (D - 0x100)
#define WIN_DATA_LEN 0x300u
#define WIN_STACK (TVM_STACK - 0x40)
#define WIN_STACK_LEN 0x80u

struct snap {
	uint32_t regs[8], flags, eip;
	uint8_t data[WIN_DATA_LEN], stack[WIN_STACK_LEN];
};

static void take(struct snap *s)
{
	memcpy(s->regs, SH->regs, sizeof(s->regs));
	s->flags = flags();
	s->eip = SH->eip;
	memcpy(s->data, ram(WIN_DATA, WIN_DATA_LEN), WIN_DATA_LEN);
	memcpy(s->stack, ram(WIN_STACK, WIN_STACK_LEN), WIN_STACK_LEN);
}

static void restore(const struct snap *s)
{
	memcpy(SH->regs, s->regs, sizeof(s->regs));
	set_flags(s->flags);
	SH->eip = s->eip;
	tvm_load(&vm, WIN_DATA, s->data, WIN_DATA_LEN);
	tvm_load(&vm, WIN_STACK, s->stack, WIN_STACK_LEN);
}

static const char *hex(const uint8_t *b, size_t n)
{
	static char buf[64];
	buf[0] = 0;
	for (size_t i = 0; i < n && i < 16; i++)
		snprintf(buf + 3 * i, 4, "%02x ", b[i]);
	return buf;
}

/* Fail unless the state is the snapshot's (nothing changed). */
static void assert_unchanged(const struct snap *s, const uint8_t *insn, size_t n)
{
	struct snap now;
	take(&now);
	for (int r = 0; r < 8; r++)
		ck_assert_msg(now.regs[r] == s->regs[r], "[%s] reg %d changed: %#x -> %#x",
			      hex(insn, n), r, s->regs[r], now.regs[r]);
	ck_assert_msg(now.flags == s->flags, "[%s] flags changed: %#x -> %#x", hex(insn, n),
		      s->flags, now.flags);
	ck_assert_uint_eq(now.eip, s->eip);
	ck_assert_msg(!memcmp(now.data, s->data, WIN_DATA_LEN), "[%s] memory changed", hex(insn, n));
	ck_assert_msg(!memcmp(now.stack, s->stack, WIN_STACK_LEN), "[%s] stack changed", hex(insn, n));
}

/* Emulate the instruction at TVM_CODE. */
static int emu(const uint8_t *insn, size_t n)
{
	tvm_load(&vm, TVM_CODE, insn, n);
	SH->eip = TVM_CODE;
	return memop_emulate(&vm);
}

/* Emulate; expect it done, EIP past it, no exception. */
static void emu_ok(const uint8_t *insn, size_t n)
{
	int r = emu(insn, n);
	ck_assert_msg(r == EMU_NEXT, "[%s] memop_emulate returned %d", hex(insn, n), r);
	ck_assert_msg(!vm.cpu.exc.pending, "[%s] exception %d raised", hex(insn, n),
		      vm.cpu.exc.vector);
	ck_assert_uint_eq(SH->eip, TVM_CODE + n);
}
#define OK(...) do { static const uint8_t b_[] = { __VA_ARGS__ }; emu_ok(b_, sizeof(b_)); } while (0)

/* Emulate; expect exception vec with nothing changed. */
static void emu_fault(const uint8_t *insn, size_t n, int vec)
{
	struct snap s;
	SH->eip = TVM_CODE;
	take(&s);
	vm.cpu.exc.pending = false;
	int r = emu(insn, n);
	ck_assert_msg(r == EMU_FAULT, "[%s] memop_emulate returned %d, want EMU_FAULT", hex(insn, n),
		      r);
	ck_assert_msg(vm.cpu.exc.pending && vm.cpu.exc.vector == vec,
		      "[%s] want exception %d, got pending=%d vector=%d", hex(insn, n), vec,
		      vm.cpu.exc.pending, vm.cpu.exc.vector);
	assert_unchanged(&s, insn, n);
	vm.cpu.exc.pending = false;
}
#define FAULT(vec, ...) do { static const uint8_t b_[] = { __VA_ARGS__ }; \
	emu_fault(b_, sizeof(b_), vec); } while (0)

/* Run the instruction natively: translated, then "out 0xf4, al". */
static void native(const uint8_t *insn, size_t n)
{
	uint8_t code[24];
	memcpy(code, insn, n);
	code[n] = 0xe6;
	code[n + 1] = 0xf4;
	tvm_load(&vm, TVM_CODE, code, n + 2);
	tvm_run(&vm, TVM_CODE);
	ck_assert_msg(vm.stop == STOP_DEBUG_EXIT, "[%s] native run stopped: %s", hex(insn, n),
		      vm.stop_msg);
}

/* From the current state, run natively, then emulate: both must agree. */
static void diff(const uint8_t *insn, size_t n)
{
	struct snap s0, sn, se;
	take(&s0);
	native(insn, n);
	take(&sn);
	restore(&s0);
	emu_ok(insn, n);
	take(&se);
	if (memcmp(se.regs, sn.regs, sizeof(se.regs)) || se.flags != sn.flags) {
		const struct snap *v[] = { &s0, &sn, &se };
		for (int k = 0; k < 3; k++) {
			fprintf(stderr, "%-8s", (const char *[]){ "before", "native", "memop" }[k]);
			for (int r = 0; r < 8; r++)
				fprintf(stderr, " %08x", v[k]->regs[r]);
			fprintf(stderr, " fl %03x [D] %08x\n", v[k]->flags,
				*(const uint32_t *)(v[k]->data + (D - WIN_DATA)));
		}
	}
	for (int r = 0; r < 8; r++)
		ck_assert_msg(se.regs[r] == sn.regs[r],
			      "[%s] reg %d: emulated %#x, native %#x (before %#x, flags %#x)",
			      hex(insn, n), r, se.regs[r], sn.regs[r], s0.regs[r], s0.flags);
	ck_assert_msg(se.flags == sn.flags,
		      "[%s] flags: emulated %#x, native %#x (before %#x; eax %#x ecx %#x, [D] %02x%02x%02x%02x)",
		      hex(insn, n), se.flags, sn.flags, s0.flags, s0.regs[R_EAX], s0.regs[R_ECX],
		      s0.data[D - WIN_DATA + 3], s0.data[D - WIN_DATA + 2], s0.data[D - WIN_DATA + 1],
		      s0.data[D - WIN_DATA]);
	for (uint32_t i = 0; i < WIN_DATA_LEN; i++)
		ck_assert_msg(se.data[i] == sn.data[i], "[%s] byte at %#x: emulated %#x, native %#x",
			      hex(insn, n), WIN_DATA + i, se.data[i], sn.data[i]);
	for (uint32_t i = 0; i < WIN_STACK_LEN; i++)
		ck_assert_msg(se.stack[i] == sn.stack[i],
			      "[%s] stack byte at %#x: emulated %#x, native %#x", hex(insn, n),
			      WIN_STACK + i, se.stack[i], sn.stack[i]);
}

/* Random registers (ESP kept, EBX = D), flags (DF too) and data window. */
static void randomize(void)
{
	for (int r = 0; r < 8; r++)
		if (r != R_ESP)
			REG(r) = rnd_val();
	REG(R_EBX) = D;
	set_flags(rnd() & FL_ARITH);
	fill_random(WIN_DATA, WIN_DATA_LEN);
	tvm_wr32(&vm, D, rnd_val());
}

/* A register for the ModRM reg field, leaving alone the ones that address memory in
 * the tests (EBX, EBP, ESP; BL and BH for byte forms). */
static int rnd_reg(int size)
{
	static const int r8[] = { 0, 1, 2, 4, 5, 6 }, r32[] = { 0, 1, 2, 6, 7 };
	return size == 1 ? r8[rnd() % 6] : r32[rnd() % 5];
}

/* ---- MOV and friends ---- */

START_TEST(mov_forms)
{
	REG(R_EBX) = D;
	REG(R_EAX) = 0x11223344;
	OK(0x89, 0x03);                                 /* mov [ebx], eax */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x11223344);
	OK(0x88, 0x63, 0x05);                           /* mov [ebx+5], ah */
	ck_assert_uint_eq(ram(D + 5, 1)[0], 0x33);
	OK(0x66, 0x89, 0x43, 0x08);                     /* mov [ebx+8], ax */
	ck_assert_uint_eq(tvm_rd32(&vm, D + 8) & 0xffff, 0x3344);
	tvm_wr32(&vm, D + 0x10, 0xdeadbeef);
	REG(R_ECX) = 0x55555555;
	OK(0x8b, 0x4b, 0x10);                           /* mov ecx, [ebx+0x10] */
	ck_assert_uint_eq(REG(R_ECX), 0xdeadbeef);
	REG(R_ECX) = 0x55555555;
	OK(0x8a, 0x6b, 0x11);                           /* mov ch, [ebx+0x11] */
	ck_assert_uint_eq(REG(R_ECX), 0x5555be55);
	OK(0x66, 0x8b, 0x53, 0x12);                     /* mov dx, [ebx+0x12] */
	ck_assert_uint_eq(REG(R_EDX) & 0xffff, 0xdead);
	OK(0xc6, 0x43, 0x20, 0x9a);                     /* mov byte [ebx+0x20], 0x9a */
	OK(0x66, 0xc7, 0x43, 0x21, 0x34, 0x12);         /* mov word [ebx+0x21], 0x1234 */
	OK(0xc7, 0x43, 0x24, 0x78, 0x56, 0x34, 0x12);   /* mov dword [ebx+0x24], 0x12345678 */
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x20), 0x0012349a);
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x24), 0x12345678);
	/* moffs forms: the address is the displacement */
	tvm_wr32(&vm, D + 0x30, 0xcafef00d);
	REG(R_EAX) = 0;
	OK(0xa1, 0x30, 0x00, 0x09, 0x00);               /* mov eax, [0x90030] */
	ck_assert_uint_eq(REG(R_EAX), 0xcafef00d);
	REG(R_EAX) = 0xffffffff;
	OK(0xa0, 0x31, 0x00, 0x09, 0x00);               /* mov al, [0x90031] */
	ck_assert_uint_eq(REG(R_EAX), 0xfffffff0);
	OK(0x66, 0xa1, 0x32, 0x00, 0x09, 0x00);         /* mov ax, [0x90032] */
	ck_assert_uint_eq(REG(R_EAX), 0xffffcafe);
	REG(R_EAX) = 0xa1b2c3d4;
	OK(0xa3, 0x40, 0x00, 0x09, 0x00);               /* mov [0x90040], eax */
	OK(0xa2, 0x44, 0x00, 0x09, 0x00);               /* mov [0x90044], al */
	OK(0x66, 0xa3, 0x45, 0x00, 0x09, 0x00);         /* mov [0x90045], ax */
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x40), 0xa1b2c3d4);
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x44), 0x00c3d4d4);
	/* MOV has no business with the flags */
	ck_assert_uint_eq(flags(), 0);
	set_flags(STATUS | FL_DF);
	OK(0x8b, 0x03);
	ck_assert_uint_eq(flags(), STATUS | FL_DF);
}
END_TEST

/* Every addressing form and the segment each one defaults to: each segment gets its
 * own base, and D + base holds a value naming the segment. */
START_TEST(mov_addressing_and_segments)
{
	static const uint32_t base[SR_COUNT] = { 0x200, 0, 0x100, 0x500, 0x300, 0x400 };
	for (int sr = 0; sr < SR_COUNT; sr++) {
		if (sr != SR_CS)
			seg_set(&vm, sr, TVM_SEL_DATA, base[sr], 0xfffff, 0x4093);
		tvm_wr32(&vm, D + base[sr], 0x1000 + (uint32_t)sr);
	}
	tvm_wr32(&vm, D + base[SR_DS] + 0x40, 0x2222);
	/* registers: ebx = D, esi = D - 0x40 and ecx = 0x10 (esi + ecx*4 = D), ebp and
	 * esp = D, unless the entry says otherwise */
	struct { uint8_t b[8]; int n; int sr; uint32_t ecx, ebp; bool plus40; } t[] = {
		{ { 0x8b, 0x03 }, 2, SR_DS, 0x10, D, false },                   /* [ebx] */
		{ { 0x8b, 0x04, 0x8e }, 3, SR_DS, 0x10, D, false },             /* [esi+ecx*4] */
		{ { 0x8b, 0x44, 0x8e, 0x40 }, 4, SR_DS, 0x10, D, true },        /* ... + 0x40 */
		{ { 0x8b, 0x84, 0x8e, 0x40, 0, 0, 0 }, 7, SR_DS, 0x10, D, true }, /* disp32 */
		{ { 0x8b, 0x05, 0x00, 0x00, 0x09, 0x00 }, 6, SR_DS, 0x10, D, false }, /* [0x90000] */
		{ { 0x8b, 0x04, 0x25, 0x00, 0x00, 0x09, 0x00 }, 7, SR_DS, 0x10, D, false }, /* SIB */
		{ { 0x8b, 0x04, 0x4d, 0x00, 0x00, 0x09, 0x00 }, 7, SR_DS, 0, D, false }, /* [ecx*2+d32] */
		{ { 0x8b, 0x45, 0x00 }, 3, SR_SS, 0x10, D, false },             /* [ebp+0] */
		{ { 0x8b, 0x04, 0x24 }, 3, SR_SS, 0x10, D, false },             /* [esp] */
		{ { 0x8b, 0x04, 0x0c }, 3, SR_SS, 0, D, false },                /* [esp+ecx] */
		{ { 0x8b, 0x04, 0x29 }, 3, SR_DS, D, 0, false },                /* [ecx+ebp] */
		{ { 0x3e, 0x8b, 0x45, 0x00 }, 4, SR_DS, 0x10, D, false },       /* ds:[ebp] */
		{ { 0x26, 0x8b, 0x03 }, 3, SR_ES, 0x10, D, false },
		{ { 0x64, 0x8b, 0x03 }, 3, SR_FS, 0x10, D, false },
		{ { 0x65, 0x8b, 0x03 }, 3, SR_GS, 0x10, D, false },
		{ { 0x2e, 0x8b, 0x03 }, 3, SR_CS, 0x10, D, false },
		{ { 0x36, 0x8b, 0x03 }, 3, SR_SS, 0x10, D, false },
		{ { 0x64, 0x26, 0x8b, 0x03 }, 4, SR_ES, 0x10, D, false },       /* the last counts */
		{ { 0x64, 0xa1, 0x00, 0x00, 0x09, 0x00 }, 6, SR_FS, 0x10, D, false }, /* fs: moffs */
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		REG(R_EBX) = D;
		REG(R_ESI) = D - 0x40;
		REG(R_ECX) = t[k].ecx;
		REG(R_EBP) = t[k].ebp;
		REG(R_ESP) = D;
		REG(R_EAX) = 0;
		emu_ok(t[k].b, (size_t)t[k].n);
		uint32_t want = t[k].plus40 ? 0x2222 : 0x1000 + (uint32_t)t[k].sr;
		ck_assert_msg(REG(R_EAX) == want, "[%s] read %#x, want %#x",
			      hex(t[k].b, (size_t)t[k].n), REG(R_EAX), want);
	}
	/* the destination of a store, through fs: */
	REG(R_EBX) = D + 0x80;
	REG(R_EAX) = 0x600d;
	OK(0x64, 0x89, 0x03);
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x80 + base[SR_FS]), 0x600d);
}
END_TEST

START_TEST(movzx_movsx)
{
	REG(R_EBX) = D;
	tvm_wr32(&vm, D, 0x8081f0f1);
	REG(R_EAX) = 0xffffffff;
	OK(0x0f, 0xb6, 0x03);                           /* movzx eax, byte [ebx] */
	ck_assert_uint_eq(REG(R_EAX), 0xf1);
	OK(0x0f, 0xbe, 0x03);                           /* movsx eax, byte [ebx] */
	ck_assert_uint_eq(REG(R_EAX), 0xfffffff1);
	OK(0x0f, 0xb7, 0x4b, 0x02);                     /* movzx ecx, word [ebx+2] */
	ck_assert_uint_eq(REG(R_ECX), 0x8081);
	OK(0x0f, 0xbf, 0x4b, 0x02);                     /* movsx ecx, word [ebx+2] */
	ck_assert_uint_eq(REG(R_ECX), 0xffff8081);
	REG(R_EDX) = 0x12345678;
	OK(0x66, 0x0f, 0xb6, 0x53, 0x01);               /* movzx dx, byte [ebx+1] */
	ck_assert_uint_eq(REG(R_EDX), 0x123400f0);
	OK(0x66, 0x0f, 0xbe, 0x53, 0x01);               /* movsx dx, byte [ebx+1] */
	ck_assert_uint_eq(REG(R_EDX), 0x1234fff0);
	for (int k = 0; k < 40; k++) {
		randomize();
		uint8_t b[] = { 0x0f, (uint8_t[]){ 0xb6, 0xb7, 0xbe, 0xbf }[k % 4],
				(uint8_t)(rnd_reg(4) << 3 | 3) };
		diff(b, 3);
		uint8_t b16[] = { 0x66, b[0], b[1], b[2] };
		randomize();
		diff(b16, 4);
	}
}
END_TEST

/* ---- arithmetic ---- */

START_TEST(alu_hand_computed)
{
	REG(R_EBX) = D;
	tvm_wr32(&vm, D, 0xffffffff);
	REG(R_EAX) = 1;
	set_flags(FL_DF);
	OK(0x01, 0x03);                                 /* add [ebx], eax */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0);
	ck_assert_uint_eq(flags(), FL_CF | FL_PF | FL_AF | FL_ZF | FL_DF);
	tvm_wr32(&vm, D, 0x80);
	set_flags(0);
	OK(0x80, 0x2b, 0x01);                           /* sub byte [ebx], 1 */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x7f);
	ck_assert_uint_eq(flags(), FL_OF | FL_AF);
	tvm_wr32(&vm, D, 5);
	REG(R_ECX) = 3;
	set_flags(FL_CF);
	OK(0x13, 0x0b);                                 /* adc ecx, [ebx] */
	ck_assert_uint_eq(REG(R_ECX), 9);
	ck_assert_uint_eq(flags(), FL_PF);
	set_flags(0);
	OK(0x83, 0x3b, 0x06);                           /* cmp dword [ebx], 6 */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 5);
	ck_assert_uint_eq(flags(), FL_CF | FL_PF | FL_AF | FL_SF);
	tvm_wr32(&vm, D, 0x7fffffff);
	set_flags(FL_CF);
	OK(0xff, 0x03);                                 /* inc dword [ebx]: CF kept */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x80000000);
	ck_assert_uint_eq(flags(), FL_CF | FL_PF | FL_AF | FL_SF | FL_OF);
	tvm_wr32(&vm, D, 0x0f0f);
	OK(0x66, 0xf7, 0x13);                           /* not word [ebx]: no flags */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0xf0f0);
	ck_assert_uint_eq(flags(), FL_CF | FL_PF | FL_AF | FL_SF | FL_OF);
	OK(0x66, 0xf7, 0x1b);                           /* neg word [ebx] */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x0f10);
	ck_assert_uint_eq(flags(), FL_CF);
	REG(R_EAX) = 0x0100;
	OK(0x84, 0x23);                                 /* test [ebx], ah: 0x10 & 1 */
	ck_assert_uint_eq(flags() & ~FL_AF, FL_ZF | FL_PF);     /* AF undefined */
}
END_TEST

/* ADD OR ADC SBB AND SUB XOR CMP in every memory form and size, against the CPU. */
START_TEST(alu_all_forms)
{
	for (int op = 0; op < 8; op++) {
		for (int k = 0; k < 12; k++) {
			randomize();
			int r8 = rnd_reg(1), r32 = rnd_reg(4);
			uint8_t i8 = (uint8_t)rnd_val();
			uint32_t i32 = rnd_val();
			uint8_t o = (uint8_t)(op << 3);
			uint8_t forms[][10] = {
				{ 2, o, (uint8_t)(r8 << 3 | 3) },               /* op [ebx], r8 */
				{ 2, o | 1, (uint8_t)(r32 << 3 | 3) },          /* op [ebx], r32 */
				{ 2, o | 2, (uint8_t)(r8 << 3 | 3) },           /* op r8, [ebx] */
				{ 2, o | 3, (uint8_t)(r32 << 3 | 3) },          /* op r32, [ebx] */
				{ 3, 0x66, o | 1, (uint8_t)(r32 << 3 | 3) },
				{ 3, 0x66, o | 3, (uint8_t)(r32 << 3 | 3) },
				{ 3, 0x80, (uint8_t)(op << 3 | 3), i8 },
				{ 3, 0x82, (uint8_t)(op << 3 | 3), i8 },
				{ 6, 0x81, (uint8_t)(op << 3 | 3), (uint8_t)i32, (uint8_t)(i32 >> 8),
				  (uint8_t)(i32 >> 16), (uint8_t)(i32 >> 24) },
				{ 5, 0x66, 0x81, (uint8_t)(op << 3 | 3), (uint8_t)i32, (uint8_t)(i32 >> 8) },
				{ 3, 0x83, (uint8_t)(op << 3 | 3), i8 },
				{ 4, 0x66, 0x83, (uint8_t)(op << 3 | 3), i8 },
				/* op [ebp+ebx*4+8], r32 = [D+0x10] through SS */
				{ 4, o | 1, (uint8_t)(0x44 | r32 << 3), 0x9d, 0x08 },
			};
			REG(R_EBP) = D - 4 * D - 8 + 0x10;
			for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
				diff(forms[f] + 1, forms[f][0]);
		}
	}
}
END_TEST

START_TEST(test_inc_dec_not_neg)
{
	for (int k = 0; k < 60; k++) {
		randomize();
		uint8_t i8 = (uint8_t)rnd_val();
		uint32_t i32 = rnd_val();
		int r8 = rnd_reg(1), r32 = rnd_reg(4);
		uint8_t forms[][10] = {
			{ 2, 0x84, (uint8_t)(r8 << 3 | 3) },                    /* test [ebx], r8 */
			{ 2, 0x85, (uint8_t)(r32 << 3 | 3) },
			{ 3, 0x66, 0x85, (uint8_t)(r32 << 3 | 3) },
			{ 3, 0xf6, 0x03, i8 },                                  /* test byte [ebx], i8 */
			{ 6, 0xf7, 0x03, (uint8_t)i32, (uint8_t)(i32 >> 8), (uint8_t)(i32 >> 16),
			  (uint8_t)(i32 >> 24) },
			{ 5, 0x66, 0xf7, 0x03, (uint8_t)i32, (uint8_t)(i32 >> 8) },
			{ 2, 0xfe, 0x03 }, { 2, 0xfe, 0x0b },                   /* inc/dec byte */
			{ 2, 0xff, 0x03 }, { 2, 0xff, 0x0b },                   /* inc/dec dword */
			{ 3, 0x66, 0xff, 0x03 }, { 3, 0x66, 0xff, 0x0b },
			{ 2, 0xf6, 0x13 }, { 2, 0xf6, 0x1b },                   /* not/neg byte */
			{ 2, 0xf7, 0x13 }, { 2, 0xf7, 0x1b },
			{ 3, 0x66, 0xf7, 0x13 }, { 3, 0x66, 0xf7, 0x1b },
			{ 3, 0xf0, 0xff, 0x03 }, { 3, 0xf0, 0xf7, 0x1b },       /* lock inc, lock neg */
		};
		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
			diff(forms[f] + 1, forms[f][0]);
	}
}
END_TEST

START_TEST(xchg_cmpxchg_xadd)
{
	/* by hand */
	REG(R_EBX) = D;
	tvm_wr32(&vm, D, 0x11111111);
	REG(R_ECX) = 0x22222222;
	set_flags(FL_CF);
	OK(0x87, 0x0b);                                 /* xchg [ebx], ecx */
	ck_assert_uint_eq(REG(R_ECX), 0x11111111);
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x22222222);
	ck_assert_uint_eq(flags(), FL_CF);
	REG(R_EAX) = 0x22222222;
	REG(R_EDX) = 0x33333333;
	OK(0x0f, 0xb1, 0x13);                           /* cmpxchg [ebx], edx: equal */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x33333333);
	ck_assert_uint_eq(REG(R_EAX), 0x22222222);
	ck_assert(flags() & FL_ZF);
	OK(0xf0, 0x0f, 0xb1, 0x13);                     /* lock cmpxchg: differ */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x33333333);
	ck_assert_uint_eq(REG(R_EAX), 0x33333333);
	ck_assert(!(flags() & FL_ZF));
	REG(R_ECX) = 0x10;
	OK(0x0f, 0xc1, 0x0b);                           /* xadd [ebx], ecx */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x33333343);
	ck_assert_uint_eq(REG(R_ECX), 0x33333333);
	/* against the CPU */
	for (int k = 0; k < 60; k++) {
		randomize();
		int r8 = rnd_reg(1), r32 = rnd_reg(4);
		if (k & 1)      /* make CMPXCHG's comparison succeed half the time */
			tvm_wr32(&vm, D, REG(R_EAX));
		uint8_t forms[][6] = {
			{ 2, 0x86, (uint8_t)(r8 << 3 | 3) },
			{ 2, 0x87, (uint8_t)(r32 << 3 | 3) },
			{ 3, 0x66, 0x87, (uint8_t)(r32 << 3 | 3) },
			{ 3, 0x0f, 0xb0, (uint8_t)(r8 << 3 | 3) },
			{ 3, 0x0f, 0xb1, (uint8_t)(r32 << 3 | 3) },
			{ 4, 0x66, 0x0f, 0xb1, (uint8_t)(r32 << 3 | 3) },
			{ 4, 0xf0, 0x0f, 0xb1, (uint8_t)(r32 << 3 | 3) },
			{ 3, 0x0f, 0xc0, (uint8_t)(r8 << 3 | 3) },
			{ 3, 0x0f, 0xc1, (uint8_t)(r32 << 3 | 3) },
			{ 4, 0x66, 0x0f, 0xc1, (uint8_t)(r32 << 3 | 3) },
		};
		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
			diff(forms[f] + 1, forms[f][0]);
	}
}
END_TEST

/* BT/BTS/BTR/BTC: the register form reaches bits outside the addressed operand, below
 * it too; the immediate form wraps within it. */
START_TEST(bit_ops)
{
	REG(R_EBX) = D + 0x80;
	memset(ram(D, 0x100), 0, 0x100);
	REG(R_EAX) = 100;                               /* dword 3, bit 4 */
	OK(0x0f, 0xab, 0x03);                           /* bts [ebx], eax */
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x80 + 12), 0x10);
	ck_assert(!(flags() & FL_CF));
	OK(0x0f, 0xa3, 0x03);                           /* bt [ebx], eax */
	ck_assert(flags() & FL_CF);
	REG(R_EAX) = (uint32_t)-1;                      /* the top bit of the dword below */
	OK(0x0f, 0xbb, 0x03);                           /* btc [ebx], eax */
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x7c), 0x80000000);
	REG(R_EAX) = 0xabcd0000u | (uint16_t)-17;       /* 16-bit: offset -17, bit 15 of word -2 */
	OK(0x66, 0x0f, 0xab, 0x03);
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x7c), 0x80008000);
	OK(0x0f, 0xba, 0x6b, 0x04, 0x24);               /* bts dword [ebx+4], 36: bit 4 */
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x84), 0x10);
	for (int k = 0; k < 60; k++) {
		randomize();
		REG(R_EBX) = D + 0x80;
		/* offsets in -512..511 bits; for the 16-bit form alone, junk above bit 15 */
		int r = (int)(rnd() % 3);               /* eax, ecx or edx */
		REG(r) = (uint32_t)((int)(rnd() % 1024) - 512);
		if (!(k & 1))
			REG(r) = (REG(r) & 0xffff) | (rnd() & 0xffff0000u);
		uint8_t ib = (uint8_t)rnd();
		for (int w = 0; w < 4; w++) {
			uint8_t reg32[] = { 0x0f, (uint8_t)(0xa3 + 8 * w), (uint8_t)(r << 3 | 3) };
			uint8_t reg16[] = { 0x66, 0x0f, (uint8_t)(0xa3 + 8 * w), (uint8_t)(r << 3 | 3) };
			uint8_t imm32[] = { 0x0f, 0xba, (uint8_t)((4 + w) << 3 | 3), ib };
			uint8_t imm16[] = { 0x66, 0x0f, 0xba, (uint8_t)((4 + w) << 3 | 3), ib };
			if (k & 1)
				diff(reg32, sizeof(reg32));
			diff(reg16, sizeof(reg16));
			diff(imm32, sizeof(imm32));
			diff(imm16, sizeof(imm16));
		}
	}
}
END_TEST

START_TEST(shifts_rotates)
{
	REG(R_EBX) = D;
	tvm_wr32(&vm, D, 0x80000001);
	set_flags(0);
	OK(0xd1, 0x03);                                 /* rol dword [ebx], 1 */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 3);
	ck_assert_uint_eq(flags() & (FL_CF | FL_OF), FL_CF | FL_OF);
	set_flags(FL_CF | FL_ZF);
	REG(R_ECX) = 0x20;                              /* masked to 0: nothing changes */
	OK(0xd3, 0x23);                                 /* shl dword [ebx], cl */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 3);
	ck_assert_uint_eq(flags(), FL_CF | FL_ZF);
	OK(0xc0, 0x3b, 0x01);                           /* sar byte [ebx], 1 */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 1);
	ck_assert(flags() & FL_CF);
	for (int k = 0; k < 40; k++) {
		for (int op = 0; op < 8; op++) {
			randomize();
			REG(R_ECX) = k < 34 ? (uint32_t)k : rnd();
			uint8_t count = (uint8_t)(k < 34 ? (uint32_t)k : rnd());
			uint8_t m = (uint8_t)(op << 3 | 3);
			uint8_t forms[][6] = {
				{ 2, 0xd0, m }, { 2, 0xd1, m }, { 3, 0x66, 0xd1, m },
				{ 2, 0xd2, m }, { 2, 0xd3, m }, { 3, 0x66, 0xd3, m },
				{ 3, 0xc0, m, count }, { 3, 0xc1, m, count }, { 4, 0x66, 0xc1, m, count },
			};
			for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
				diff(forms[f] + 1, forms[f][0]);
		}
	}
}
END_TEST

START_TEST(setcc)
{
	REG(R_EBX) = D;
	tvm_wr32(&vm, D, 0xaaaaaaaa);
	set_flags(FL_ZF);
	OK(0x0f, 0x94, 0x03);                           /* sete [ebx] */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0xaaaaaa01);
	OK(0x0f, 0x9c, 0x43, 0x01);                     /* setl [ebx+1] */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0xaaaa0001);
	for (int k = 0; k < 24; k++) {
		randomize();
		for (int cc = 0; cc < 16; cc++) {
			uint8_t b[] = { 0x0f, (uint8_t)(0x90 + cc), 0x03 };
			diff(b, sizeof(b));
		}
	}
}
END_TEST

START_TEST(push_pop_memory)
{
	REG(R_EBX) = D;
	tvm_wr32(&vm, D, 0x12345678);
	OK(0xff, 0x33);                                 /* push dword [ebx] */
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK - 4);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 4), 0x12345678);
	OK(0x8f, 0x43, 0x04);                           /* pop dword [ebx+4] */
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_eq(tvm_rd32(&vm, D + 4), 0x12345678);
	/* pop [esp+4]: the address uses the incremented ESP */
	tvm_wr32(&vm, TVM_STACK, 0xfeedface);
	OK(0x8f, 0x44, 0x24, 0x04);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK + 4);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK + 8), 0xfeedface);
	/* push [esp+4]: the address uses ESP before the push */
	OK(0xff, 0x74, 0x24, 0x04);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK), 0xfeedface);
	OK(0x66, 0xff, 0x33);                           /* push word [ebx] */
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK - 2);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 2) & 0xffff, 0x5678);
	for (int k = 0; k < 20; k++) {
		randomize();
		REG(R_ESP) = TVM_STACK;
		static const uint8_t forms[][6] = {
			{ 2, 0xff, 0x33 }, { 4, 0xff, 0x74, 0x24, 0x04 }, { 3, 0x66, 0xff, 0x33 },
			{ 2, 0x8f, 0x03 }, { 3, 0x8f, 0x04, 0x24 }, { 4, 0x8f, 0x44, 0x24, 0xfc },
			{ 3, 0x66, 0x8f, 0x03 }, { 4, 0x66, 0x8f, 0x04, 0x24 },
		};
		fill_random(WIN_STACK, WIN_STACK_LEN);
		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			REG(R_ESP) = TVM_STACK;
			diff(forms[f] + 1, forms[f][0]);
		}
	}
}
END_TEST

/* ---- string instructions ---- */

START_TEST(rep_movsb_both_directions)
{
	memcpy(ram(D, 8), "abcdefgh", 8);
	REG(R_ESI) = D;
	REG(R_EDI) = D + 0x40;
	REG(R_ECX) = 5;
	OK(0xf3, 0xa4);                                 /* rep movsb */
	ck_assert(!memcmp(ram(D + 0x40, 6), "abcde\0", 6));
	ck_assert_uint_eq(REG(R_ECX), 0);
	ck_assert_uint_eq(REG(R_ESI), D + 5);
	ck_assert_uint_eq(REG(R_EDI), D + 0x45);
	/* overlapping, forwards: the first byte repeats */
	REG(R_ESI) = D;
	REG(R_EDI) = D + 1;
	REG(R_ECX) = 4;
	OK(0xf3, 0xa4);
	ck_assert(!memcmp(ram(D, 8), "aaaaafgh", 8));
	/* overlapping, backwards (DF = 1): a memmove */
	memcpy(ram(D, 8), "abcdefgh", 8);
	set_flags(FL_DF);
	REG(R_ESI) = D + 3;
	REG(R_EDI) = D + 4;
	REG(R_ECX) = 4;
	OK(0xf3, 0xa4);
	ck_assert(!memcmp(ram(D, 8), "aabcdfgh", 8));
	ck_assert_uint_eq(REG(R_ESI), D - 1);
	ck_assert_uint_eq(REG(R_EDI), D);
	ck_assert_uint_eq(flags(), FL_DF);
	/* ECX = 0: nothing */
	OK(0xf3, 0xa4);
	ck_assert_uint_eq(REG(R_ESI), D - 1);
	/* rep movsd backwards */
	tvm_wr32(&vm, D + 0x10, 0x11111111);
	tvm_wr32(&vm, D + 0x14, 0x22222222);
	REG(R_ESI) = D + 0x14;
	REG(R_EDI) = D + 0x24;
	REG(R_ECX) = 2;
	OK(0xf3, 0xa5);
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x20), 0x11111111);
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x24), 0x22222222);
	ck_assert_uint_eq(REG(R_EDI), D + 0x1c);
	/* fs: moves the source; the destination stays ES */
	set_flags(0);
	seg_set(&vm, SR_FS, TVM_SEL_DATA, 0x1000, 0xfffff, 0x4093);
	seg_set(&vm, SR_ES, TVM_SEL_DATA, 0x2000, 0xfffff, 0x4093);
	tvm_wr32(&vm, D + 0x1000, 0x0f0f0f0f);
	REG(R_ESI) = D;
	REG(R_EDI) = D;
	REG(R_ECX) = 4;
	OK(0xf3, 0x64, 0xa4);                           /* rep movsb es:[edi], fs:[esi] */
	ck_assert_uint_eq(tvm_rd32(&vm, D + 0x2000), 0x0f0f0f0f);
	ck_assert_uint_eq(REG(R_ESI), D + 4);
}
END_TEST

START_TEST(repe_cmpsb_stops_at_mismatch)
{
	memcpy(ram(D, 5), "abcXe", 5);
	memcpy(ram(D + 0x40, 5), "abcde", 5);
	REG(R_ESI) = D;
	REG(R_EDI) = D + 0x40;
	REG(R_ECX) = 5;
	OK(0xf3, 0xa6);                                 /* repe cmpsb */
	ck_assert_uint_eq(REG(R_ECX), 1);
	ck_assert_uint_eq(REG(R_ESI), D + 4);
	ck_assert_uint_eq(REG(R_EDI), D + 0x44);
	ck_assert_uint_eq(flags() & (FL_ZF | FL_CF), FL_CF);   /* 'X' < 'd' */
	/* repne scasb finds 'c' */
	REG(R_EDI) = D + 0x40;
	REG(R_ECX) = 5;
	REG(R_EAX) = 'c';
	OK(0xf2, 0xae);
	ck_assert_uint_eq(REG(R_ECX), 2);
	ck_assert_uint_eq(REG(R_EDI), D + 0x43);
	ck_assert(flags() & FL_ZF);
	/* repe cmpsb through to the end: all equal */
	REG(R_ESI) = D;
	REG(R_EDI) = D + 0x40;
	REG(R_ECX) = 3;
	OK(0xf3, 0xa6);
	ck_assert_uint_eq(REG(R_ECX), 0);
	ck_assert(flags() & FL_ZF);
}
END_TEST

/* Every string instruction, size, direction and prefix, against the CPU; the buffers
 * agree on a random prefix so REPE/REPNE stop at varying points. */
START_TEST(strings_all_forms)
{
	static const uint8_t ops[] = { 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };
	static const uint8_t pfx[][3] = { { 0 }, { 1, 0xf3 }, { 1, 0xf2 }, { 1, 0x66 },
					  { 2, 0xf3, 0x66 }, { 2, 0x66, 0xf2 }, { 1, 0x64 },
					  { 2, 0xf3, 0x26 } };
	for (int k = 0; k < 12; k++) {
		for (size_t o = 0; o < sizeof(ops); o++) {
			for (size_t p = 0; p < sizeof(pfx) / sizeof(pfx[0]); p++) {
				randomize();
				REG(R_ESI) = D + 0x40 + rnd() % 8;
				REG(R_EDI) = D + 0x140 + rnd() % 8;
				REG(R_ECX) = rnd() % 9;
				/* equal buffers but for one byte somewhere, so REPE/REPNE stop at
				 * varying points; scas looks for a value that occurs */
				memcpy(ram(REG(R_ESI) - 20, 40), ram(REG(R_EDI) - 20, 40), 40);
				ram(REG(R_ESI) - 20 + rnd() % 40, 1)[0] ^= (uint8_t)(1 + rnd() % 255);
				if (k & 1)
					REG(R_EAX) = tvm_rd32(&vm, REG(R_EDI) + (rnd() % 4) * 2);
				uint8_t b[4];
				size_t n = pfx[p][0];
				memcpy(b, pfx[p] + 1, n);
				b[n++] = ops[o];
				diff(b, n);
			}
		}
	}
}
END_TEST

/* A REP instruction longer than a batch returns with EIP still at it. */
START_TEST(rep_batches)
{
	REG(R_EDI) = D;
	REG(R_ECX) = MEMOP_REP_BATCH + 10;
	REG(R_EAX) = 0x5a;
	static const uint8_t b[] = { 0xf3, 0xaa };      /* rep stosb */
	ck_assert_int_eq(emu(b, 2), EMU_JUMPED);        /* EIP stays, to resume */
	ck_assert_uint_eq(SH->eip, TVM_CODE);
	ck_assert_uint_eq(REG(R_ECX), 10);
	ck_assert_uint_eq(REG(R_EDI), D + MEMOP_REP_BATCH);
	ck_assert_int_eq(memop_emulate(&vm), EMU_NEXT);
	ck_assert_uint_eq(SH->eip, TVM_CODE + 2);
	ck_assert_uint_eq(REG(R_ECX), 0);
	ck_assert_uint_eq(REG(R_EDI), D + MEMOP_REP_BATCH + 10);
	ck_assert_uint_eq(ram(D + MEMOP_REP_BATCH + 9, 1)[0], 0x5a);
	ck_assert_uint_eq(ram(D + MEMOP_REP_BATCH + 10, 1)[0], 0);
}
END_TEST

/* ---- faults ---- */

START_TEST(segment_limit_faults)
{
	REG(R_EBX) = D;
	REG(R_EAX) = 0x1234;
	tvm_wr32(&vm, D, 7);
	/* DS limit below the operand: #GP, for loads, stores and read-modify-writes */
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, D + 2, 0x4093);
	FAULT(VEC_GP, 0x8b, 0x03);                              /* mov eax, [ebx] */
	FAULT(VEC_GP, 0x89, 0x03);
	FAULT(VEC_GP, 0x01, 0x03);                              /* add [ebx], eax */
	FAULT(VEC_GP, 0x0f, 0xb1, 0x0b);
	FAULT(VEC_GP, 0xa1, 0x00, 0x00, 0x09, 0x00);
	OK(0x8a, 0x0b);                                         /* a byte fits */
	ck_assert_uint_eq(REG(R_ECX) & 0xff, 7);
	OK(0x66, 0x8b, 0x0b);
	/* fs: override past FS's limit */
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, 0xffffffff, TVM_ATTR_DATA);
	seg_set(&vm, SR_FS, TVM_SEL_DATA, 0, 0xffff, 0x4093);
	FAULT(VEC_GP, 0x64, 0x8b, 0x03);
	/* the register form of BT past the limit, though [ebx] itself is inside */
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, D + 3, 0x4093);
	REG(R_EAX) = 32;
	FAULT(VEC_GP, 0x0f, 0xa3, 0x03);
	REG(R_EAX) = 31;
	OK(0x0f, 0xa3, 0x03);
	/* SS-relative: #SS */
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, 0xffffffff, TVM_ATTR_DATA);
	seg_set(&vm, SR_SS, TVM_SEL_DATA, 0, 0x8ffff, 0x4093);
	REG(R_EBP) = D;
	FAULT(VEC_SS, 0x8b, 0x45, 0x00);                        /* mov eax, [ebp] */
	FAULT(VEC_SS, 0x01, 0x45, 0x00);
	OK(0x3e, 0x8b, 0x45, 0x00);                             /* ds:[ebp] is inside DS */
}
END_TEST

START_TEST(read_only_and_stack_faults)
{
	REG(R_EBX) = D;
	REG(R_EAX) = 0x1234;
	REG(R_ECX) = 0x5678;
	tvm_wr32(&vm, D, 7);
	set_flags(FL_CF | FL_DF);
	/* read-only DS: reads go, writes and read-modify-writes fault, nothing changes */
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, 0xffffffff, 0xc091);
	OK(0x8b, 0x13);
	ck_assert_uint_eq(REG(R_EDX), 7);
	OK(0x3b, 0x03);                                         /* cmp eax, [ebx] */
	OK(0x39, 0x03);                                         /* cmp [ebx], eax */
	OK(0x80, 0x3b, 0x07);                                   /* cmp byte [ebx], 7 */
	OK(0x85, 0x03);                                         /* test [ebx], eax */
	OK(0xf6, 0x03, 0x01);                                   /* test byte [ebx], 1 */
	FAULT(VEC_GP, 0x89, 0x03);
	FAULT(VEC_GP, 0x01, 0x03);
	FAULT(VEC_GP, 0x87, 0x0b);                              /* xchg: ecx kept */
	FAULT(VEC_GP, 0x0f, 0xb1, 0x0b);                        /* cmpxchg: eax kept */
	FAULT(VEC_GP, 0x0f, 0xc1, 0x0b);                        /* xadd: ecx kept */
	FAULT(VEC_GP, 0x0f, 0xab, 0x03);
	FAULT(VEC_GP, 0xd1, 0x23);
	FAULT(VEC_GP, 0xff, 0x03);
	FAULT(VEC_GP, 0x0f, 0x94, 0x03);
	FAULT(VEC_GP, 0x8f, 0x03);                              /* pop [ebx]: ESP kept */
	OK(0x0f, 0xa3, 0x03);                                   /* bt only reads */
	/* push [ebx] with no room on the stack: #SS */
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, 0xffffffff, TVM_ATTR_DATA);
	seg_set(&vm, SR_SS, TVM_SEL_DATA, 0, TVM_STACK - 2, 0x4093);
	FAULT(VEC_SS, 0xff, 0x33);
	/* movsb whose source faults writes nothing */
	seg_set(&vm, SR_SS, TVM_SEL_DATA, 0, 0xffffffff, TVM_ATTR_DATA);
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, D - 1, 0x4093);
	REG(R_ESI) = D;
	REG(R_EDI) = D + 0x40;
	REG(R_ECX) = 3;
	FAULT(VEC_GP, 0xa4);
	FAULT(VEC_GP, 0xf3, 0xa4);
}
END_TEST

/* REP MOVSB into the end of ES: the elements before the limit are done, and ECX, ESI
 * and EDI point at the one that faulted, with EIP at the instruction. */
START_TEST(rep_fault_midway)
{
	memcpy(ram(D, 5), "vwxyz", 5);
	memset(ram(D + 0x40, 5), '.', 5);
	seg_set(&vm, SR_ES, TVM_SEL_DATA, 0, D + 0x42, 0x4093);
	REG(R_ESI) = D;
	REG(R_EDI) = D + 0x40;
	REG(R_ECX) = 5;
	static const uint8_t b[] = { 0xf3, 0xa4 };
	ck_assert_int_eq(emu(b, 2), -1);
	ck_assert(vm.cpu.exc.pending);
	ck_assert_uint_eq(vm.cpu.exc.vector, VEC_GP);
	ck_assert_uint_eq(SH->eip, TVM_CODE);
	ck_assert_uint_eq(REG(R_ECX), 2);
	ck_assert_uint_eq(REG(R_ESI), D + 3);
	ck_assert_uint_eq(REG(R_EDI), D + 0x43);
	ck_assert(!memcmp(ram(D + 0x40, 5), "vwx..", 5));
}
END_TEST

/* With paging on: the low 4 MiB identity-mapped, D's page read-only (CR0.WP) and
 * the page after it not present. A read-modify-write is a write to the page tables
 * before it reads (#PF with W set); loads go through. */
#define PD 0x200000u
#define PT 0x201000u

START_TEST(paging_faults)
{
	tvm_wr32(&vm, PD, PT | PTE_P | PTE_RW);
	for (uint32_t pg = 0; pg < 1024; pg++)
		tvm_wr32(&vm, PT + 4 * pg, pg << 12 | PTE_P | PTE_RW);
	tvm_wr32(&vm, PT + 4 * (D >> 12), D | PTE_P);
	tvm_wr32(&vm, PT + 4 * ((D >> 12) + 1), 0);
	vm.cpu.cr0 = CR0_PE | CR0_PG | CR0_WP;
	vm.cpu.cr3 = PD;
	mmu_paging_changed(vm.mmu);
	REG(R_EBX) = D;
	REG(R_EAX) = 1;
	tvm_wr32(&vm, D, 41);
	OK(0x8b, 0x0b);                                 /* mov ecx, [ebx] */
	ck_assert_uint_eq(REG(R_ECX), 41);
	ck_assert(tvm_rd32(&vm, PT + 4 * (D >> 12)) & PTE_A);
	FAULT(VEC_PF, 0x01, 0x03);                      /* add [ebx], eax */
	ck_assert_uint_eq(vm.cpu.sh->cr2, D);
	ck_assert_uint_eq(vm.cpu.exc.err, PF_ACC_WRITE | 1);    /* W, protection */
	FAULT(VEC_PF, 0x87, 0x03);                      /* xchg [ebx], eax */
	FAULT(VEC_PF, 0x89, 0x03);
	/* the next page is not present: a load and a read-modify-write across the line */
	REG(R_EBX) = D + 0xffe;
	FAULT(VEC_PF, 0x8b, 0x0b);
	ck_assert_uint_eq(vm.cpu.sh->cr2, D + 0x1000);
	ck_assert_uint_eq(vm.cpu.exc.err, 0);
	REG(R_EBX) = D + 0x1000 - 0x400;                /* ebx + 0x400 */
	FAULT(VEC_PF, 0xff, 0x83, 0x00, 0x04, 0x00, 0x00);      /* inc dword [ebx+0x400] */
	ck_assert_uint_eq(vm.cpu.exc.err, PF_ACC_WRITE);
	ck_assert_uint_eq(tvm_rd32(&vm, D), 41);
}
END_TEST

/* Instructions whose only memory operand is the stack. */
START_TEST(stack_instructions)
{
	REG(R_ESP) = TVM_STACK;
	REG(R_EAX) = 0x11111111;
	REG(R_EBX) = 0x22222222;
	OK(0x50);                                       /* push eax */
	OK(0x6a, 0xfe);                                 /* push -2 */
	OK(0x68, 0x78, 0x56, 0x34, 0x12);               /* push 0x12345678 */
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK - 12);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 8), 0xfffffffe);
	OK(0x5b);                                       /* pop ebx */
	ck_assert_uint_eq(REG(R_EBX), 0x12345678);
	OK(0x5b);
	OK(0x5b);
	ck_assert_uint_eq(REG(R_EBX), 0x11111111);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	/* pusha/popa: ESP's slot holds the old ESP and is skipped by popa */
	REG(R_ECX) = 3;
	OK(0x60);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK - 32);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 20), TVM_STACK);
	REG(R_ECX) = 0;
	OK(0x61);
	ck_assert_uint_eq(REG(R_ECX), 3);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	/* call rel32 and ret imm16 */
	SH->eip = TVM_CODE;
	tvm_load(&vm, TVM_CODE, (const uint8_t[]){ 0xe8, 0x10, 0x00, 0x00, 0x00 }, 5);
	ck_assert_int_eq(memop_emulate(&vm), EMU_JUMPED);
	ck_assert_uint_eq(SH->eip, TVM_CODE + 0x15);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 4), TVM_CODE + 5);
	tvm_load(&vm, TVM_CODE + 0x15, (const uint8_t[]){ 0xc2, 0x08, 0x00 }, 3);
	ck_assert_int_eq(memop_emulate(&vm), EMU_JUMPED);
	ck_assert_uint_eq(SH->eip, TVM_CODE + 5);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK + 8);
	/* pushfd/popfd: the guest's image and IF at CPL 0 */
	REG(R_ESP) = TVM_STACK;
	SH->vif = FL_IF;
	OK(0x9c);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 4) & FL_IF, FL_IF);
	tvm_wr32(&vm, TVM_STACK - 4, FL_1 | FL_CF);
	OK(0x9d);
	ck_assert_uint_eq(SH->vif, 0);
	ck_assert_uint_eq(SH->eflags & FL_CF, FL_CF);
	/* leave */
	REG(R_EBP) = TVM_STACK - 16;
	tvm_wr32(&vm, TVM_STACK - 16, 0xabcdef01);
	OK(0xc9);
	ck_assert_uint_eq(REG(R_EBP), 0xabcdef01);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK - 12);
}
END_TEST

/* ---- what memop leaves to its caller ---- */

START_TEST(unsupported_not_mine)
{
	REG(R_EBX) = D;
	struct snap s;
	SH->eip = TVM_CODE;
	take(&s);
	static const uint8_t t[][6] = {
		{ 2, 0x01, 0xd8 },                              /* add eax, ebx: no memory */
		{ 2, 0x8d, 0x03 },                              /* lea eax, [ebx]: no access */
		{ 1, 0x90 },
		{ 2, 0xff, 0x2b },                              /* jmp far [ebx] */
		{ 3, 0x0f, 0x01, 0x13 },                        /* lgdt [ebx]: sensitive */
		{ 2, 0x0f, 0x0b },                              /* ud2 */
		{ 4, 0x0f, 0xba, 0x1b, 0x01 },                  /* 0F BA /3: undefined */
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		int r = emu(t[k] + 1, t[k][0]);
		ck_assert_msg(r == EMU_NOT_MINE, "[%s] returned %d, want EMU_NOT_MINE", hex(t[k] + 1,
			      t[k][0]), r);
		ck_assert(!vm.cpu.exc.pending);
		assert_unchanged(&s, t[k] + 1, t[k][0]);
	}
}
END_TEST

/* What memop's own handlers do not know runs on the host CPU against a copy of its
 * operand (memop_native.c): the same as running it natively, from random states. */
START_TEST(native_fallback)
{
	static const uint8_t t[][7] = {
		{ 2, 0xf7, 0x23 },                              /* mul dword [ebx] */
		{ 3, 0x0f, 0xaf, 0x03 },                        /* imul eax, [ebx] */
		{ 3, 0x6b, 0x0b, 0xfd },                        /* imul ecx, [ebx], -3 */
		{ 5, 0x66, 0x69, 0x0b, 0x34, 0x12 },            /* imul cx, [ebx], 0x1234 */
		{ 4, 0x0f, 0xa4, 0x03, 0x05 },                  /* shld [ebx], eax, 5 */
		{ 3, 0x0f, 0xad, 0x03 },                        /* shrd [ebx], eax, cl */
		{ 4, 0xf3, 0x0f, 0xb8, 0x0b },                  /* popcnt ecx, [ebx] */
		{ 3, 0x0f, 0x44, 0x03 },                        /* cmove eax, [ebx] */
		{ 3, 0x0f, 0xc7, 0x0b },                        /* cmpxchg8b [ebx] */
		{ 4, 0xf0, 0x0f, 0xc7, 0x0b },                  /* lock cmpxchg8b [ebx] */
		{ 3, 0x0f, 0xc3, 0x03 },                        /* movnti [ebx], eax */
		{ 5, 0xf2, 0x0f, 0x38, 0xf1, 0x03 },            /* crc32 eax, dword [ebx] */
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++)
		for (int round = 0; round < 20; round++) {
			randomize();
			diff(t[k] + 1, t[k][0]);
		}
}
END_TEST

START_TEST(lock_prefix)
{
	REG(R_EBX) = D;
	REG(R_EAX) = 2;
	tvm_wr32(&vm, D, 40);
	OK(0xf0, 0x01, 0x03);                           /* lock add [ebx], eax */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 42);
	OK(0xf0, 0x0f, 0xba, 0x2b, 0x00);               /* lock bts dword [ebx], 0 */
	ck_assert_uint_eq(tvm_rd32(&vm, D), 43);
	/* LOCK where the SDM says #UD: Capstone decodes a register destination ... */
	FAULT(VEC_UD, 0xf0, 0x03, 0x03);                /* lock add eax, [ebx] */
	FAULT(VEC_UD, 0xf0, 0x2b, 0x03);                /* lock sub eax, [ebx] */
	/* ... and refuses the rest, which memop leaves to its caller */
	struct snap s;
	SH->eip = TVM_CODE;
	take(&s);
	static const uint8_t lmov[] = { 0xf0, 0x8b, 0x03 }, lbt[] = { 0xf0, 0x0f, 0xa3, 0x03 };
	ck_assert_int_eq(emu(lmov, sizeof(lmov)), EMU_NOT_MINE);
	ck_assert_int_eq(emu(lbt, sizeof(lbt)), EMU_NOT_MINE);
	ck_assert(!vm.cpu.exc.pending);
	assert_unchanged(&s, lbt, sizeof(lbt));
}
END_TEST

/* The emulators' front end (decode.h): prefixes, sizes, ModRM, effective address and
 * immediate of one decode, as both emulators read them. */
static void decode_at_code(struct insn *i, const uint8_t *b, size_t n)
{
	tvm_load(&vm, TVM_CODE, b, n);
	SH->eip = TVM_CODE;
	ck_assert_int_eq(insn_decode(&vm, i), 0);
	ck_assert_int_eq(i->len, (int)n);
	ck_assert_uint_eq(i->next, TVM_CODE + n);
}

START_TEST(front_end)
{
	struct insn i;
	REG(R_EBX) = D;
	REG(R_EBP) = 0x12345678;
	static const uint8_t movsw[] = { 0x26, 0x66, 0xf3, 0xa5 };      /* es: rep movsw */
	decode_at_code(&i, movsw, sizeof(movsw));
	ck_assert(i.o16 && !i.a16 && !i.lock);
	ck_assert_int_eq(i.osize, 2);
	ck_assert_int_eq(i.rep, 0xf3);
	ck_assert_int_eq(i.seg, SR_ES);
	ck_assert_int_eq(i.npfx, 3);
	ck_assert_uint_eq(i.op[0], 0xa5);
	static const uint8_t cx[] = { 0xf0, 0x0f, 0xb1, 0x4b, 0x08 };   /* lock cmpxchg [ebx+8], ecx */
	decode_at_code(&i, cx, sizeof(cx));
	ck_assert(i.lock && !i.o16 && !i.rep);
	ck_assert_int_eq(i.osize, 4);
	ck_assert_int_eq(i.seg, -1);
	ck_assert(i.mod == 1 && i.reg == R_ECX && i.rm == R_EBX);
	struct mref m = insn_ea(&i);
	ck_assert(m.sr == SR_DS && m.off == D + 8);
	static const uint8_t bp[] = { 0x8b, 0x45, 0xf8 };               /* mov eax, [ebp-8] */
	decode_at_code(&i, bp, sizeof(bp));
	m = insn_ea(&i);
	ck_assert(m.sr == SR_SS && m.off == 0x12345678 - 8);
	static const uint8_t bpds[] = { 0x64, 0x3e, 0x8b, 0x45, 0xf8 }; /* the last override counts */
	decode_at_code(&i, bpds, sizeof(bpds));
	ck_assert_int_eq(insn_ea(&i).sr, SR_DS);
	static const uint8_t a16[] = { 0x67, 0x8b, 0x46, 0x02 };        /* mov eax, [bp+2] */
	decode_at_code(&i, a16, sizeof(a16));
	ck_assert(i.a16 && !i.o16);
	m = insn_ea(&i);
	ck_assert(m.sr == SR_SS && m.off == 0x567a);
	static const uint8_t addi[] = { 0x81, 0x03, 0x78, 0x56, 0x34, 0x12 };   /* add [ebx], imm32 */
	decode_at_code(&i, addi, sizeof(addi));
	ck_assert_uint_eq(insn_imm(&i, 4), 0x12345678);
	ck_assert_uint_eq(insn_imm(&i, 1), 0x12);
	/* One decode serves memop_run as memop_emulate's own would. */
	tvm_wr32(&vm, D, 1);
	ck_assert_int_eq(memop_run(&i), EMU_NEXT);
	ck_assert_uint_eq(tvm_rd32(&vm, D), 0x12345679);
	ck_assert_uint_eq(SH->eip, TVM_CODE + sizeof(addi));
}
END_TEST

static Suite *memop_suite(void)
{
	Suite *s = suite_create("memop");
	struct { const char *name; const TTest *t[8]; } groups[] = {
		{ "mov", { mov_forms, mov_addressing_and_segments, movzx_movsx } },
		{ "alu", { alu_hand_computed, alu_all_forms, test_inc_dec_not_neg,
			   xchg_cmpxchg_xadd } },
		{ "bits", { bit_ops, shifts_rotates, setcc } },
		{ "stack", { push_pop_memory, stack_instructions } },
		{ "strings", { rep_movsb_both_directions, repe_cmpsb_stops_at_mismatch,
			       strings_all_forms, rep_batches } },
		{ "faults", { segment_limit_faults, read_only_and_stack_faults, rep_fault_midway,
			      paging_faults } },
		{ "decode", { front_end, unsupported_not_mine, lock_prefix, native_fallback } },
	};
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		TCase *tc = tcase_create(groups[g].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 120);
		for (int i = 0; i < 8 && groups[g].t[i]; i++)
			tcase_add_test(tc, groups[g].t[i]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(memop_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
