/*
 * memop.c - emulate one guest instruction that accesses memory (memop.h).
 *
 * Decoding is the emulators' one front end (decode.h): Capstone's operands, the
 * operation from the opcode bytes, as the rewriter classifies them. Every handler
 * returns an emu_result; EMU_NOT_MINE leaves the instruction to the caller.
 *
 * Flags: every arithmetic result is computed by the host CPU running the same
 * operation on registers with the guest's CF PF AF ZF SF OF loaded, so even the flags
 * the SDM leaves undefined are this CPU's, as they would be had the instruction run
 * natively. DF and the other bits are never touched.
 *
 * Ordering: memory is read before it is written. A read-modify-write checks the
 * write first (a read-only segment refuses it before a device register is read),
 * then reads, computes and writes; registers and flags change only after the last
 * access succeeded, so a fault leaves the guest as before the instruction (a fault is
 * restartable, SDM Vol. 3, 6.5). The file goes: the host's operations, the ModRM
 * instructions, the stack, the string instructions, the dispatch. Whatever the
 * dispatch does not know is run by the host CPU on a copy of its operand
 * (memop_native.c).
 */
#include "memop.h"

#include <assert.h>
#include <string.h>

#include "decode.h"
#include "exceptions.h"
#include "memop_native.h"
#include "segments.h"
#include "vm.h"
#include "../shadowmmu/mem.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"

/* ---- registers, flags ---- */

#define FL_STATUS (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

static uint64_t flags_in(const struct insn *i)
{
	return (i->vm->cpu.sh->eflags & FL_STATUS) | FL_1;
}

static void flags_out(struct insn *i, uint64_t f)
{
	uint32_t *fl = &i->vm->cpu.sh->eflags;
	*fl = (*fl & ~FL_STATUS) | ((uint32_t)f & FL_STATUS);
}

/* ---- the host computes ---- */

/*
 * Each operation runs between a POPF of the guest's status flags and a PUSHF. The
 * pushes go below the red zone (the compiler may keep data in the 128 bytes under
 * RSP); DF stays clear, as the ABI wants, and IF/IOPL cannot change at ring 3.
 */
#define PRE  "lea -128(%%rsp), %%rsp\n\tpush %[f]\n\tpopf\n\t"
#define POST "\n\tpushf\n\tpop %[f]\n\tlea 128(%%rsp), %%rsp"
#define OUTS [a] "+r"(a), [f] "+r"(f)

#define BIN(mn)                                                                          \
	switch (size) {                                                                  \
	case 1: asm(PRE mn "b %b[b], %b[a]" POST : OUTS : [b] "r"(b) : "cc"); break;     \
	case 2: asm(PRE mn "w %w[b], %w[a]" POST : OUTS : [b] "r"(b) : "cc"); break;     \
	default: asm(PRE mn "l %k[b], %k[a]" POST : OUTS : [b] "r"(b) : "cc"); break;    \
	}
#define SHIFT_CL(mn)                                                                     \
	switch (size) {                                                                  \
	case 1: asm(PRE mn "b %%cl, %b[a]" POST : OUTS : "c"(b) : "cc"); break;          \
	case 2: asm(PRE mn "w %%cl, %w[a]" POST : OUTS : "c"(b) : "cc"); break;          \
	default: asm(PRE mn "l %%cl, %k[a]" POST : OUTS : "c"(b) : "cc"); break;         \
	}
/* Unary; for shifts and rotates this is the by-one form (D0/D1). */
#define UN(mn)                                                                           \
	switch (size) {                                                                  \
	case 1: asm(PRE mn "b %b[a]" POST : OUTS : : "cc"); break;                       \
	case 2: asm(PRE mn "w %w[a]" POST : OUTS : : "cc"); break;                       \
	default: asm(PRE mn "l %k[a]" POST : OUTS : : "cc"); break;                      \
	}
#define BITOP(mn)                                                                        \
	if (size == 2)                                                                   \
		asm(PRE mn "w %w[b], %w[a]" POST : OUTS : [b] "r"(b) : "cc");            \
	else                                                                             \
		asm(PRE mn "l %k[b], %k[a]" POST : OUTS : [b] "r"(b) : "cc");

/* Operations: 0-7 the ALU group as encoded (ADD OR ADC SBB AND SUB XOR CMP), then the
 * shift group by CL and by one (ROL ROR RCL RCR SHL SHR SAL SAR), then the rest. */
enum {
	N_CMP = 7, N_SHIFT = 8, N_SHIFT1 = 16, N_TEST = 24, N_INC, N_DEC, N_NEG,
	N_BT, N_BTS, N_BTR, N_BTC,
};

/* Run operation op of size bytes on a (and b) with the status flags *fl; returns the
 * new a (for CMP, TEST and BT: a unchanged). */
static uint32_t native(int op, int size, uint32_t a, uint32_t b, uint64_t *fl)
{
	uint64_t f = *fl;
	switch (op) {
	case 0: BIN("add"); break;
	case 1: BIN("or"); break;
	case 2: BIN("adc"); break;
	case 3: BIN("sbb"); break;
	case 4: BIN("and"); break;
	case 5: BIN("sub"); break;
	case 6: BIN("xor"); break;
	case 7: BIN("cmp"); break;
	case N_SHIFT + 0: SHIFT_CL("rol"); break;
	case N_SHIFT + 1: SHIFT_CL("ror"); break;
	case N_SHIFT + 2: SHIFT_CL("rcl"); break;
	case N_SHIFT + 3: SHIFT_CL("rcr"); break;
	case N_SHIFT + 4:
	case N_SHIFT + 6: SHIFT_CL("shl"); break;   /* /6: SAL's other encoding */
	case N_SHIFT + 5: SHIFT_CL("shr"); break;
	case N_SHIFT + 7: SHIFT_CL("sar"); break;
	case N_SHIFT1 + 0: UN("rol"); break;
	case N_SHIFT1 + 1: UN("ror"); break;
	case N_SHIFT1 + 2: UN("rcl"); break;
	case N_SHIFT1 + 3: UN("rcr"); break;
	case N_SHIFT1 + 4:
	case N_SHIFT1 + 6: UN("shl"); break;
	case N_SHIFT1 + 5: UN("shr"); break;
	case N_SHIFT1 + 7: UN("sar"); break;
	case N_TEST: BIN("test"); break;
	case N_INC: UN("inc"); break;
	case N_DEC: UN("dec"); break;
	case N_NEG: UN("neg"); break;
	case N_BT: BITOP("bt"); break;
	case N_BTS: BITOP("bts"); break;
	case N_BTR: BITOP("btr"); break;
	case N_BTC: BITOP("btc"); break;
	default:
		assert(!"memop: bad native operation");
	}
	*fl = f;
	return a;
}

/* CMPXCHG d, s with the accumulator *acc: returns the new d (written back either way,
 * as the CPU does) and updates *acc. */
static uint32_t native_cmpxchg(int size, uint32_t *acc, uint32_t a, uint32_t s, uint64_t *fl)
{
	uint64_t f = *fl;
	uint32_t x = *acc;
	switch (size) {
	case 1: asm(PRE "cmpxchgb %b[s], %b[a]" POST : OUTS, "+a"(x) : [s] "r"(s) : "cc"); break;
	case 2: asm(PRE "cmpxchgw %w[s], %w[a]" POST : OUTS, "+a"(x) : [s] "r"(s) : "cc"); break;
	default: asm(PRE "cmpxchgl %k[s], %k[a]" POST : OUTS, "+a"(x) : [s] "r"(s) : "cc"); break;
	}
	*acc = x;
	*fl = f;
	return a;
}

/* XADD d, s: returns the sum; *s gets the old d. */
static uint32_t native_xadd(int size, uint32_t a, uint32_t *s, uint64_t *fl)
{
	uint64_t f = *fl;
	uint32_t x = *s;
	switch (size) {
	case 1: asm(PRE "xaddb %b[s], %b[a]" POST : OUTS, [s] "+r"(x) : : "cc"); break;
	case 2: asm(PRE "xaddw %w[s], %w[a]" POST : OUTS, [s] "+r"(x) : : "cc"); break;
	default: asm(PRE "xaddl %k[s], %k[a]" POST : OUTS, [s] "+r"(x) : : "cc"); break;
	}
	*s = x;
	*fl = f;
	return a;
}

/* The read of a read-modify-write: the write is checked first, the segment and then
 * the page tables, as the CPU's read with write intent does (its #PF has W set). */
static int rmw_read(struct insn *i, struct mref r, int size, uint32_t *v)
{
	struct vm *vm = i->vm;
	const struct seg *s = &vm->cpu.seg[r.sr];
	int vec = seg_check(s, r.sr, r.off, (uint32_t)size, true);
	if (vec >= 0) {
		exc_raise(vm, vec, true, 0);
		return -1;
	}
	unsigned acc = PF_ACC_WRITE | (vm->cpu.cpl == 3 ? PF_ACC_USER : 0);
	if (lin_check(vm, s->base + r.off, (uint32_t)size, acc) < 0)
		return -1;
	return mref_read(i, r, size, v);
}

/* ---- the instructions ---- */

/* op (ALU 0-7, N_TEST, a shift) on the memory operand with source src. */
static enum emu_result alu_mem(struct insn *i, int op, int size, uint32_t src)
{
	struct mref r = insn_ea(i);
	bool write = op != N_CMP && op != N_TEST;
	uint32_t v;
	if ((write ? rmw_read(i, r, size, &v) : mref_read(i, r, size, &v)) < 0)
		return EMU_FAULT;
	uint64_t f = flags_in(i);
	v = native(op, size, v, src, &f);
	if (write && mref_write(i, r, size, v) < 0)
		return EMU_FAULT;
	flags_out(i, f);
	return EMU_NEXT;
}

/* ALU op 0-7 into the ModRM register, from memory. */
static enum emu_result alu_reg(struct insn *i, int op, int size)
{
	uint32_t v;
	if (mref_read(i, insn_ea(i), size, &v) < 0)
		return EMU_FAULT;
	uint64_t f = flags_in(i);
	uint32_t d = native(op, size, gpr_read(i, i->reg, size), v, &f);
	if (op != N_CMP)
		gpr_write(i, i->reg, size, d);
	flags_out(i, f);
	return EMU_NEXT;
}

/* INC, DEC, NEG (op) or NOT (op < 0: no flags). */
static enum emu_result unary(struct insn *i, int op, int size)
{
	struct mref r = insn_ea(i);
	uint32_t v;
	if (rmw_read(i, r, size, &v) < 0)
		return EMU_FAULT;
	uint64_t f = flags_in(i);
	v = op < 0 ? ~v : native(op, size, v, 0, &f);
	if (mref_write(i, r, size, v) < 0)
		return EMU_FAULT;
	if (op >= 0)
		flags_out(i, f);
	return EMU_NEXT;
}

/* C0/C1 (count imm8), D0/D1 (one), D2/D3 (CL). The CPU masks the count; a count of
 * zero leaves the flags alone, and the operand is written back all the same. */
static enum emu_result shift(struct insn *i, int size)
{
	uint8_t o = i->op[0];
	if (o == 0xd0 || o == 0xd1)
		return alu_mem(i, N_SHIFT1 + i->reg, size, 1);
	uint32_t count = o <= 0xc1 ? insn_imm(i, 1) : i->regs[R_ECX] & 0xff;
	return alu_mem(i, N_SHIFT + i->reg, size, count);
}

static enum emu_result mov(struct insn *i)
{
	uint8_t o = i->op[0];
	int size = (o & 1) ? i->osize : 1;
	uint32_t v;
	switch (o) {
	case 0x88:
	case 0x89:
		return emu_done(mref_write(i, insn_ea(i), size, gpr_read(i, i->reg, size)));
	case 0x8a:
	case 0x8b:
		if (mref_read(i, insn_ea(i), size, &v) < 0)
			return EMU_FAULT;
		gpr_write(i, i->reg, size, v);
		return EMU_NEXT;
	case 0xc6:
	case 0xc7:
		return emu_done(mref_write(i, insn_ea(i), size, insn_imm(i, size)));
	}
	/* A0-A3: the moffs is the displacement alone; DS unless overridden. */
	struct mref r = { .sr = i->seg >= 0 ? i->seg : SR_DS };
	memcpy(&r.off, i->op + 1, i->a16 ? 2 : 4);      /* moffs16 with a 16-bit address size */
	if (o & 2)
		return emu_done(mref_write(i, r, size, gpr_read(i, R_EAX, size)));
	if (mref_read(i, r, size, &v) < 0)
		return EMU_FAULT;
	gpr_write(i, R_EAX, size, v);
	return EMU_NEXT;
}

/* MOVZX/MOVSX r16/32, m8/m16 (0F B6 B7 BE BF). */
static enum emu_result movx(struct insn *i)
{
	int ssize = (i->op[1] & 1) ? 2 : 1;
	uint32_t v;
	if (mref_read(i, insn_ea(i), ssize, &v) < 0)
		return EMU_FAULT;
	if (i->op[1] & 8)
		v = ssize == 1 ? (uint32_t)(int8_t)v : (uint32_t)(int16_t)v;
	gpr_write(i, i->reg, i->osize, v);
	return EMU_NEXT;
}

static enum emu_result xchg(struct insn *i, int size)
{
	struct mref r = insn_ea(i);
	uint32_t v;
	if (rmw_read(i, r, size, &v) < 0 || mref_write(i, r, size, gpr_read(i, i->reg, size)) < 0)
		return EMU_FAULT;
	gpr_write(i, i->reg, size, v);
	return EMU_NEXT;
}

static enum emu_result cmpxchg(struct insn *i, int size)
{
	struct mref r = insn_ea(i);
	uint32_t v, acc = gpr_read(i, R_EAX, size);
	if (rmw_read(i, r, size, &v) < 0)
		return EMU_FAULT;
	uint64_t f = flags_in(i);
	v = native_cmpxchg(size, &acc, v, gpr_read(i, i->reg, size), &f);
	if (mref_write(i, r, size, v) < 0)
		return EMU_FAULT;
	gpr_write(i, R_EAX, size, acc);
	flags_out(i, f);
	return EMU_NEXT;
}

static enum emu_result xadd(struct insn *i, int size)
{
	struct mref r = insn_ea(i);
	uint32_t v, s = gpr_read(i, i->reg, size);
	if (rmw_read(i, r, size, &v) < 0)
		return EMU_FAULT;
	uint64_t f = flags_in(i);
	v = native_xadd(size, v, &s, &f);
	if (mref_write(i, r, size, v) < 0)
		return EMU_FAULT;
	gpr_write(i, i->reg, size, s);
	flags_out(i, f);
	return EMU_NEXT;
}

/*
 * BT/BTS/BTR/BTC (which 0-3) with a register or immediate bit offset. The register
 * form addresses a bit string: the operand at EA + size * (offset SAR log2(bits)),
 * the offset being signed (SDM Vol. 2, BT, "Bit(BitBase, BitOffset)"); the immediate
 * is taken modulo the operand size.
 */
static enum emu_result bitop(struct insn *i, int which, bool immediate)
{
	int size = i->osize, bits = size * 8;
	struct mref r = insn_ea(i);
	uint32_t bit;
	if (immediate) {
		bit = insn_imm(i, 1) & (uint32_t)(bits - 1);
	} else {
		r.off += insn_bit_disp(i);
		bit = i->regs[i->reg] & (uint32_t)(bits - 1);
	}
	uint32_t v;
	if ((which ? rmw_read(i, r, size, &v) : mref_read(i, r, size, &v)) < 0)
		return EMU_FAULT;
	uint64_t f = flags_in(i);
	v = native(N_BT + which, size, v, bit, &f);
	if (which && mref_write(i, r, size, v) < 0)
		return EMU_FAULT;
	flags_out(i, f);
	return EMU_NEXT;
}

static enum emu_result setcc(struct insn *i)
{
	uint32_t v = cond_true(cpu_eflags(i->c), i->op[1] & 15);
	return emu_done(mref_write(i, insn_ea(i), 1, v));
}

/* XLAT: AL <- [seg:EBX + AL] (BX + AL with a 16-bit address size), DS unless
 * overridden. */
static enum emu_result xlat(struct insn *i)
{
	struct mref r = { .sr = i->seg >= 0 ? i->seg : SR_DS,
			  .off = i->regs[R_EBX] + (i->regs[R_EAX] & 0xff) };
	if (i->a16)
		r.off &= 0xffff;
	uint32_t v;
	if (mref_read(i, r, 1, &v) < 0)
		return EMU_FAULT;
	gpr_write(i, R_EAX, 1, v);
	return EMU_NEXT;
}

/* BOUND r, m: the signed index against the two bounds at m; #BR outside (SDM Vol. 2,
 * BOUND). */
static enum emu_result bound(struct insn *i)
{
	int size = i->osize;
	struct mref r = insn_ea(i);
	uint32_t b[2] = { 0, 0 };
	if (seg_read(i->vm, r.sr, r.off, b, (uint32_t)size * 2) < 0)
		return EMU_FAULT;
	int32_t index = (int32_t)i->regs[i->reg], lo = (int32_t)b[0], hi = (int32_t)b[1];
	if (size == 2) {
		uint16_t w[2];
		memcpy(w, b, 4);
		index = (int16_t)index;
		lo = (int16_t)w[0];
		hi = (int16_t)w[1];
	}
	if (index < lo || index > hi) {
		exc_raise(i->vm, VEC_BR, false, 0);
		return EMU_FAULT;
	}
	return EMU_NEXT;
}

/* ARPL r/m16, r16: raise the RPL of the destination to the source's, ZF says whether
 * it did (SDM Vol. 2, ARPL). Written back only when it changes. */
static enum emu_result arpl(struct insn *i)
{
	struct mref r = insn_ea(i);
	uint32_t d, src = gpr_read(i, i->reg, 2);
	if (rmw_read(i, r, 2, &d) < 0)
		return EMU_FAULT;
	bool raise = (d & 3) < (src & 3);
	if (raise && mref_write(i, r, 2, (d & ~3u) | (src & 3)) < 0)
		return EMU_FAULT;
	uint32_t *fl = &i->vm->cpu.sh->eflags;
	*fl = raise ? *fl | FL_ZF : *fl & ~FL_ZF;
	return EMU_NEXT;
}

/* ---- the stack ---- */

/* PUSH r/m (FF /6): the address is computed before ESP moves. */
static enum emu_result push_rm(struct insn *i)
{
	uint32_t v;
	if (rm_read(i, i->osize, &v) < 0)
		return EMU_FAULT;
	return emu_done(stack_push(i->vm, v, i->osize));
}

/* POP r/m (8F /0): an ESP base is the incremented ESP (SDM Vol. 2, POP). */
static enum emu_result pop_rm(struct insn *i)
{
	uint32_t v, esp = i->regs[R_ESP];
	if (stack_pop(i->vm, &v, i->osize) < 0)
		return EMU_FAULT;
	if (rm_write(i, i->osize, v) < 0) {
		i->regs[R_ESP] = esp;
		return EMU_FAULT;
	}
	return EMU_NEXT;
}

/*
 * ENTER imm16, imm8 (SDM Vol. 2, ENTER): push EBP, copy nesting level - 1 frame
 * pointers from the old frame, push the new frame pointer, then make room. Each push
 * and read is the guest's; a fault restores ESP and leaves EBP as it was.
 */
static enum emu_result enter(struct insn *i)
{
	struct vm *vm = i->vm;
	int size = i->osize;
	bool big = i->c->seg[SR_SS].attr & SEG_DB;
	uint32_t esp = i->regs[R_ESP], ebp = i->regs[R_EBP];
	uint32_t alloc = insn_imm(i, 3) & 0xffff, level = (insn_imm(i, 3) >> 16) & 31;
	if (stack_push(vm, gpr_read(i, R_EBP, size), size) < 0)
		return EMU_FAULT;
	uint32_t frame = i->regs[R_ESP];
	if (level > 0) {
		uint32_t bp = ebp;
		for (uint32_t k = 1; k < level; k++) {
			uint32_t v;
			bp = big ? bp - (uint32_t)size : (bp & 0xffff0000u) | ((bp - (uint32_t)size) & 0xffff);
			if (mref_read(i, (struct mref){ .sr = SR_SS, .off = big ? bp : bp & 0xffff },
				      size, &v) < 0 || stack_push(vm, v, size) < 0)
				goto fault;
		}
		if (stack_push(vm, size == 2 ? frame & 0xffff : frame, size) < 0)
			goto fault;
	}
	uint32_t nsp = big ? i->regs[R_ESP] - alloc :
			     (i->regs[R_ESP] & 0xffff0000u) | ((i->regs[R_ESP] - alloc) & 0xffff);
	int vec = seg_check(&i->c->seg[SR_SS], SR_SS, big ? nsp : nsp & 0xffff, 1, true);
	if (alloc && vec >= 0) {
		exc_raise(vm, vec, true, 0);
		goto fault;
	}
	gpr_write(i, R_EBP, size, frame);
	i->regs[R_ESP] = nsp;
	return EMU_NEXT;
fault:
	i->regs[R_ESP] = esp;
	return EMU_FAULT;
}

/* PUSHA, POPA (whose ESP slot is skipped), LEAVE (SP <- BP on a 16-bit stack). */
static enum emu_result stack_regs(struct insn *i)
{
	struct vm *vm = i->vm;
	uint32_t esp = i->regs[R_ESP], v, vals[8];
	int size = i->osize;
	switch (i->op[0]) {
	case 0x60:                              /* PUSHA: ESP's slot holds the old ESP */
		memcpy(vals, i->regs, sizeof(vals));
		for (int r = 0; r < 8; r++)
			if (stack_push(vm, r == R_ESP ? esp : vals[r], size) < 0) {
				i->regs[R_ESP] = esp;
				return EMU_FAULT;
			}
		return EMU_NEXT;
	case 0x61:
		for (int r = 7; r >= 0; r--)
			if (stack_pop(vm, &vals[r], size) < 0) {
				i->regs[R_ESP] = esp;
				return EMU_FAULT;
			}
		for (int r = 0; r < 8; r++)
			if (r != R_ESP)
				gpr_write(i, r, size, vals[r]);
		return EMU_NEXT;
	default:                                /* C9: LEAVE */
		if (i->c->seg[SR_SS].attr & SEG_DB)
			i->regs[R_ESP] = i->regs[R_EBP];
		else
			i->regs[R_ESP] = (esp & 0xffff0000u) | (i->regs[R_EBP] & 0xffff);
		if (stack_pop(vm, &v, size) < 0) {
			i->regs[R_ESP] = esp;
			return EMU_FAULT;
		}
		gpr_write(i, R_EBP, size, v);
		return EMU_NEXT;
	}
}

/* A near transfer's target against the CS limit (SDM Vol. 2, CALL, RET: #GP(0)). */
static bool target_ok(struct insn *i, uint32_t target)
{
	if (target <= i->c->seg[SR_CS].limit)
		return true;
	exc_raise(i->vm, VEC_GP, true, 0);
	return false;
}

/* CALL rel (E8), CALL r/m (FF /2), JMP r/m (FF /4), RET [imm16] (C3, C2): EIP set on
 * success. */
static enum emu_result call_ret(struct insn *i)
{
	uint32_t esp = i->regs[R_ESP], target;
	int size = i->osize;
	switch (i->op[0]) {
	case 0xe8:
		target = i->next + (size == 4 ? insn_imm(i, 4) : (uint32_t)(int16_t)insn_imm(i, 2));
		if (size == 2)
			target &= 0xffff;
		break;
	case 0xff:
		if (rm_read(i, size, &target) < 0)
			return EMU_FAULT;
		if (size == 2)
			target &= 0xffff;
		if (i->reg == 4) {              /* JMP r/m: no push */
			if (!target_ok(i, target))
				return EMU_FAULT;
			i->c->sh->eip = target;
			return EMU_JUMPED;
		}
		break;
	default:
		if (stack_pop(i->vm, &target, size) < 0)
			return EMU_FAULT;
		if (size == 2)
			target &= 0xffff;
		if (!target_ok(i, target)) {
			i->regs[R_ESP] = esp;
			return EMU_FAULT;
		}
		if (i->op[0] == 0xc2)
			stack_adjust(i->vm, insn_imm(i, 2));
		i->c->sh->eip = target;
		return EMU_JUMPED;
	}
	if (!target_ok(i, target) || stack_push(i->vm, i->next, size) < 0)
		return EMU_FAULT;
	i->c->sh->eip = target;
	return EMU_JUMPED;
}

/* POPF, with the CPL and IOPL rules; one that sets TF is not memop's (single steps
 * begin in the dispatcher). */
static enum emu_result popf(struct insn *i)
{
	struct cpu *c = i->c;
	uint32_t old = cpu_eflags(c), esp = i->regs[R_ESP], v;
	uint32_t mask = popf_mask(i);
	if (stack_pop(i->vm, &v, i->osize) < 0)
		return EMU_FAULT;
	if (v & mask & FL_TF) {
		i->regs[R_ESP] = esp;
		return EMU_NOT_MINE;
	}
	cpu_set_eflags(c, (old & ~mask) | (v & mask));
	return EMU_NEXT;
}

/*
 * Instructions whose only memory operand is the stack (run in the emulator when the
 * stack lies where the host cannot reach it: the top WIN_SIZE bytes, or above a CPL-3
 * guest's supervisor pages). EMU_NOT_MINE if not one of them.
 */
static enum emu_result stack_op(struct insn *i)
{
	struct vm *vm = i->vm;
	const uint8_t *op = i->op;
	uint32_t v;
	int size = i->osize;
	switch (op[0]) {
	case 0x50 ... 0x57:                     /* PUSH r (ESP pushes its old value) */
		return emu_done(stack_push(vm, gpr_read(i, op[0] & 7, size), size));
	case 0x58 ... 0x5f:                     /* POP r */
		if (stack_pop(vm, &v, size) < 0)
			return EMU_FAULT;
		gpr_write(i, op[0] & 7, size, v);
		return EMU_NEXT;
	case 0x06: case 0x0e: case 0x16: case 0x1e:     /* PUSH sreg: zero-extended */
		return emu_done(stack_push(vm, i->c->seg[op[0] >> 3].sel, size));
	case 0x0f:
		if (op[1] != 0xa0 && op[1] != 0xa8)
			return EMU_NOT_MINE;
		return emu_done(stack_push(vm, i->c->seg[op[1] == 0xa0 ? SR_FS : SR_GS].sel, size));
	case 0x68:
		return emu_done(stack_push(vm, insn_imm(i, size), size));
	case 0x6a:
		return emu_done(stack_push(vm, (uint32_t)(int8_t)insn_imm(i, 1), size));
	case 0x60:
	case 0x61:
	case 0xc9:
		return stack_regs(i);
	case 0xe8:
	case 0xc2:
	case 0xc3:
		return call_ret(i);
	case 0xff:
		if (i->reg == 2 || i->reg == 4)
			return call_ret(i);
		return i->reg == 6 ? push_rm(i) : EMU_NOT_MINE;
	case 0x8f:
		return i->reg == 0 ? pop_rm(i) : EMU_NOT_MINE;
	case 0xc8:
		return enter(i);
	case 0x9c:                              /* PUSHF: the guest's image (no VM, RF) */
		return emu_done(stack_push(vm, cpu_eflags(i->c) & ~(FL_VM | FL_RF), size));
	case 0x9d:
		return popf(i);
	}
	return EMU_NOT_MINE;
}

/* ---- string instructions ---- */

/*
 * REP MOVS and REP STOS ascending over RAM move whole runs at once: n elements with
 * source and destination each inside one page and inside their segments, so the run
 * faults exactly where its first element would, and nothing can be half done. Not
 * where the two ranges share bytes (the CPU's element order then shows) or where a
 * page is a device's. Returns the elements moved (0: go one element at a time), -1
 * on a guest exception.
 */
static int64_t string_run(struct insn *i, struct mref src, struct mref dst, int size, uint32_t n,
			  bool movs)
{
	struct vm *vm = i->vm;
	const struct cpu *c = &vm->cpu;
	unsigned user = c->cpl == 3 ? PF_ACC_USER : 0;
	uint32_t dlin = c->seg[dst.sr].base + dst.off;
	uint32_t room = (4096 - (dlin & 0xfff)) / (uint32_t)size;
	if (movs) {
		uint32_t slin = c->seg[src.sr].base + src.off;
		uint32_t sroom = (4096 - (slin & 0xfff)) / (uint32_t)size;
		if (sroom < room)
			room = sroom;
	}
	if (n > room)
		n = room;
	if (n < 2)
		return 0;
	uint32_t len = n * (uint32_t)size;
	if (seg_check(&c->seg[dst.sr], dst.sr, dst.off, len, true) >= 0 ||
	    (movs && seg_check(&c->seg[src.sr], src.sr, src.off, len, false) >= 0))
		return 0;
	uint64_t dpa, spa;
	if (mmu_peek(vm->mmu, dlin, PF_ACC_WRITE | user, &dpa) < 0 || !mem_phys(&vm->mem, dpa, len))
		return 0;
	uint8_t buf[4096];
	if (movs) {
		if (mmu_peek(vm->mmu, c->seg[src.sr].base + src.off, user, &spa) < 0 ||
		    !mem_phys(&vm->mem, spa, len) || (spa < dpa + len && dpa < spa + len))
			return 0;
		if (seg_read(vm, src.sr, src.off, buf, len) < 0)
			return -1;
	} else {
		uint32_t v = gpr_read(i, R_EAX, size);
		for (uint32_t k = 0; k < len; k += (uint32_t)size)
			memcpy(buf + k, &v, (size_t)size);
	}
	if (seg_write(vm, dst.sr, dst.off, buf, len) < 0)
		return -1;
	return n;
}

/* A string instruction's address register r (ESI, EDI, ECX), or its low half (SI, DI,
 * CX) with a 16-bit address size; areg_add changes that part alone. */
static uint32_t areg(const struct insn *i, int r)
{
	return i->a16 ? i->regs[r] & 0xffff : i->regs[r];
}

static void areg_add(struct insn *i, int r, uint32_t d)
{
	uint32_t *v = &i->regs[r];
	*v = i->a16 ? (*v & 0xffff0000u) | ((*v + d) & 0xffff) : *v + d;
}

/*
 * MOVS CMPS STOS LODS SCAS, with or without REP/REPE/REPNE (SDM Vol. 2, REP): one
 * element at a time, so a fault leaves ECX, ESI and EDI at the element that faulted
 * (EIP at the instruction), as the CPU leaves them for the restart. F2 on the
 * non-comparing ones repeats as F3 does. The source segment can be overridden, the
 * destination is always ES.
 */
static enum emu_result string(struct insn *i)
{
	uint8_t o = i->op[0] & ~1;
	int size = (i->op[0] & 1) ? i->osize : 1;
	uint32_t *regs = i->regs;
	uint32_t step = (i->vm->cpu.sh->eflags & FL_DF) ? -(uint32_t)size : (uint32_t)size;
	struct mref src = { .sr = i->seg >= 0 ? i->seg : SR_DS }, dst = { .sr = SR_ES };
	bool compare = o == 0xa6 || o == 0xae;

	for (int n = 0;; n++) {
		if (i->rep && areg(i, R_ECX) == 0)
			break;
		if (n == MEMOP_REP_BATCH)
			return EMU_JUMPED;    /* EIP stays: resumed from the dispatcher */
		src.off = areg(i, R_ESI);
		dst.off = areg(i, R_EDI);
		if (i->rep && (o == 0xa4 || o == 0xaa) && !(i->vm->cpu.sh->eflags & FL_DF) && !i->a16) {
			uint32_t want = regs[R_ECX];
			if (want > (uint32_t)(MEMOP_REP_BATCH - n))
				want = (uint32_t)(MEMOP_REP_BATCH - n);
			int64_t r = string_run(i, src, dst, size, want, o == 0xa4);
			if (r < 0)
				return EMU_FAULT;
			if (r > 0) {
				uint32_t bytes = (uint32_t)r * (uint32_t)size;
				if (o == 0xa4)
					regs[R_ESI] += bytes;
				regs[R_EDI] += bytes;
				regs[R_ECX] -= (uint32_t)r;
				n += (int)r - 1;
				continue;
			}
		}
		uint32_t s = 0, d = 0;
		switch (o) {
		case 0xa4:      /* MOVS */
			if (mref_read(i, src, size, &s) < 0 || mref_write(i, dst, size, s) < 0)
				return EMU_FAULT;
			break;
		case 0xa6:      /* CMPS: [ESI] - [EDI] */
			if (mref_read(i, src, size, &s) < 0 || mref_read(i, dst, size, &d) < 0)
				return EMU_FAULT;
			break;
		case 0xaa:      /* STOS */
			if (mref_write(i, dst, size, gpr_read(i, R_EAX, size)) < 0)
				return EMU_FAULT;
			break;
		case 0xac:      /* LODS */
			if (mref_read(i, src, size, &s) < 0)
				return EMU_FAULT;
			gpr_write(i, R_EAX, size, s);
			break;
		default:        /* SCAS: eAX - [EDI] */
			s = gpr_read(i, R_EAX, size);
			if (mref_read(i, dst, size, &d) < 0)
				return EMU_FAULT;
			break;
		}
		if (compare) {
			uint64_t f = flags_in(i);
			native(N_CMP, size, s, d, &f);
			flags_out(i, f);
		}
		if (o != 0xaa && o != 0xae)
			areg_add(i, R_ESI, step);
		if (o != 0xac)
			areg_add(i, R_EDI, step);
		if (!i->rep)
			break;
		areg_add(i, R_ECX, (uint32_t)-1);
		/* REPE ends on ZF = 0, REPNE on ZF = 1 */
		if (compare && (i->rep == 0xf3) != !!(i->vm->cpu.sh->eflags & FL_ZF))
			break;
	}
	return EMU_NEXT;
}

/* ---- dispatch ---- */

/* Is this a form memop handles that may not carry LOCK? (SDM Vol. 2, LOCK: #UD.)
 * Forms memop does not handle are left to the caller. */
static bool lock_ud(const struct insn *i)
{
	const uint8_t *op = i->op;
	if (op[0] == 0x0f)
		return (op[1] >= 0x90 && op[1] <= 0x9f) || op[1] == 0xa3 || op[1] == 0xb6 ||
		       op[1] == 0xa0 || op[1] == 0xa8 ||
		       op[1] == 0xb7 || op[1] == 0xbe || op[1] == 0xbf ||
		       (op[1] == 0xba && i->reg == 4);
	switch (op[0]) {
	case 0x50 ... 0x63:             /* the stack, XLAT, BOUND, ARPL */
	case 0x68:
	case 0x6a:
	case 0x9c:
	case 0x9d:
	case 0xc2:
	case 0xc3:
	case 0xc8:
	case 0xc9:
	case 0xd7:
	case 0xe8:
		return true;
	case 0x00 ... 0x3f:             /* all but a memory destination, and CMP */
		return (op[0] & 7) > 1 || op[0] >> 3 == N_CMP;
	case 0x80 ... 0x83:
		return i->reg == N_CMP;
	case 0x84:
	case 0x85:
	case 0x88 ... 0x8b:
	case 0x8f:
	case 0xa0 ... 0xa7:
	case 0xaa ... 0xaf:
	case 0xc0:
	case 0xc1:
	case 0xd0 ... 0xd3:
		return true;
	case 0xc6:
	case 0xc7:
		return i->reg == 0;
	case 0xf6:
	case 0xf7:
		return i->reg < 2;
	case 0xff:
		return i->reg >= 2;
	}
	return false;
}

static enum emu_result twobyte(struct insn *i)
{
	int size = (i->op[1] & 1) ? i->osize : 1;
	switch (i->op[1]) {
	case 0x90 ... 0x9f:
		return setcc(i);
	case 0xa3:
	case 0xab:
	case 0xb3:
	case 0xbb:
		return bitop(i, (i->op[1] >> 3) & 3, false);
	case 0xba:
		return i->reg >= 4 ? bitop(i, i->reg - 4, true) : EMU_NOT_MINE;
	case 0xb0:
	case 0xb1:
		return cmpxchg(i, size);
	case 0xc0:
	case 0xc1:
		return xadd(i, size);
	case 0xb6:
	case 0xb7:
	case 0xbe:
	case 0xbf:
		return movx(i);
	}
	return EMU_NOT_MINE;
}

static enum emu_result dispatch(struct insn *i)
{
	const uint8_t *op = i->op;
	int size = (op[0] & 1) ? i->osize : 1;
	bool no_modrm = op[0] >= 0xa0 && op[0] <= 0xaf && op[0] != 0xa8 && op[0] != 0xa9;

	if (i->lock && lock_ud(i)) {
		exc_raise(i->vm, VEC_UD, false, 0);
		return EMU_FAULT;
	}
	enum emu_result r = stack_op(i);
	if (r != EMU_NOT_MINE)
		return r;
	if (!no_modrm && op[0] != 0xd7 && i->mod == 3)
		return EMU_NOT_MINE;    /* no memory operand */
	if (op[0] == 0x0f)
		return twobyte(i);
	switch (op[0]) {
	case 0xd7:
		return xlat(i);
	case 0x62:
		return bound(i);
	case 0x63:
		return arpl(i);
	case 0x00 ... 0x3f:             /* ADD..CMP Eb,Gb Ev,Gv Gb,Eb Gv,Ev */
		if ((op[0] & 7) > 3)
			return EMU_NOT_MINE;
		if (op[0] & 2)
			return alu_reg(i, op[0] >> 3, size);
		return alu_mem(i, op[0] >> 3, size, gpr_read(i, i->reg, size));
	case 0x80:
	case 0x82:                      /* 82: 80's alias outside 64-bit mode */
		return alu_mem(i, i->reg, 1, insn_imm(i, 1));
	case 0x81:
		return alu_mem(i, i->reg, size, insn_imm(i, size));
	case 0x83:
		return alu_mem(i, i->reg, size, (uint32_t)(int8_t)insn_imm(i, 1));
	case 0x84:
	case 0x85:
		return alu_mem(i, N_TEST, size, gpr_read(i, i->reg, size));
	case 0x86:
	case 0x87:
		return xchg(i, size);
	case 0x88 ... 0x8b:
	case 0xa0 ... 0xa3:
		return mov(i);
	case 0xc6:
	case 0xc7:
		return i->reg == 0 ? mov(i) : EMU_NOT_MINE;
	case 0xa4 ... 0xa7:
	case 0xaa ... 0xaf:
		return string(i);
	case 0xc0:
	case 0xc1:
	case 0xd0 ... 0xd3:
		return shift(i, size);
	case 0xf6:
	case 0xf7:
		switch (i->reg) {
		case 0:
		case 1:                 /* /1: an alias of TEST /0 */
			return alu_mem(i, N_TEST, size, insn_imm(i, size));
		case 2:
			return unary(i, -1, size);
		case 3:
			return unary(i, N_NEG, size);
		}
		return EMU_NOT_MINE;
	case 0xfe:
	case 0xff:
		if (i->reg < 2)
			return unary(i, i->reg ? N_DEC : N_INC, size);
		return EMU_NOT_MINE;
	}
	return EMU_NOT_MINE;
}

enum emu_result memop_run(struct insn *i)
{
	enum emu_result r = dispatch(i);
	if (r == EMU_NOT_MINE)
		r = memop_native(i);
	return emu_commit(i, r);
}

enum emu_result memop_emulate(struct vm *vm)
{
	struct insn i;
	int r = insn_decode(vm, &i);
	if (r != 0)
		return r < 0 ? EMU_FAULT : EMU_NOT_MINE;
	return memop_run(&i);
}
