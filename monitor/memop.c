/*
 * memop.c - emulate one guest instruction that accesses memory (memop.h).
 *
 * Decoding: Capstone, through the rewriter's cache, gives the length and the memory
 * operand's base, index, scale and displacement; the operation comes from the opcode
 * bytes, as the rewriter classifies them. Flags: every arithmetic result is computed
 * by the host CPU running the same operation on registers with the guest's CF PF AF
 * ZF SF OF loaded, so even the flags the SDM leaves undefined are this CPU's, as they
 * would be had the instruction run natively. DF and the other bits are never touched.
 *
 * Ordering: memory is read before it is written. A read-modify-write checks the
 * write first (a read-only segment refuses it before a device register is read),
 * then reads, computes and writes; registers and flags change only after the last
 * access succeeded, so a fault leaves the guest as before the instruction (a fault is
 * restartable, SDM Vol. 3, 6.5). String instructions are in the second half.
 */
#include "memop.h"

#include <assert.h>
#include <string.h>

#include <capstone/capstone.h>

#include "exceptions.h"
#include "segments.h"
#include "vm.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/mem.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"

struct mop {
	struct vm *vm;
	uint32_t *regs;
	const cs_x86 *x;
	const uint8_t *op;      /* first opcode byte */
	const uint8_t *end;     /* one past the instruction: immediates end here */
	int mod, reg;
	int osize;              /* operand size of the non-byte forms: 2 or 4 */
	bool lock;
	uint8_t rep;            /* the last F2/F3 prefix, or 0 */
	int seg;                /* the last segment override, or -1 */
	uint32_t next;
};

/* A memory operand: segment register and offset. */
struct mref {
	int sr;
	uint32_t off;
};

/* Returned by the handlers: 1 done (EIP to next), 0 not memop's, -1 fault; and a REP
 * string instruction that stopped after a batch (EIP stays). */
#define MOP_AGAIN 2

/* ---- registers, flags ---- */

static uint32_t gpr_read(const struct mop *m, int r, int size)
{
	if (size == 1)
		return r < 4 ? m->regs[r] & 0xff : (m->regs[r - 4] >> 8) & 0xff;
	return size == 2 ? m->regs[r] & 0xffff : m->regs[r];
}

static void gpr_write(struct mop *m, int r, int size, uint32_t v)
{
	uint32_t *regs = m->regs;
	if (size == 1) {
		if (r < 4)
			regs[r] = (regs[r] & ~0xffu) | (v & 0xff);
		else
			regs[r - 4] = (regs[r - 4] & ~0xff00u) | (v & 0xff) << 8;
	} else if (size == 2) {
		regs[r] = (regs[r] & ~0xffffu) | (v & 0xffff);
	} else {
		regs[r] = v;
	}
}

#define FL_STATUS (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

static uint64_t flags_in(const struct mop *m)
{
	return (m->vm->cpu.sh->eflags & FL_STATUS) | FL_1;
}

static void flags_out(struct mop *m, uint64_t f)
{
	uint32_t *fl = &m->vm->cpu.sh->eflags;
	*fl = (*fl & ~FL_STATUS) | ((uint32_t)f & FL_STATUS);
}

/* Is condition cc (the low nibble of a Jcc/SETcc opcode) true? SDM Vol. 1, App. B. */
static bool cond_true(uint32_t fl, int cc)
{
	bool sf_ne_of = !(fl & FL_SF) != !(fl & FL_OF), r;
	switch (cc >> 1) {
	case 0: r = fl & FL_OF; break;
	case 1: r = fl & FL_CF; break;
	case 2: r = fl & FL_ZF; break;
	case 3: r = fl & (FL_CF | FL_ZF); break;
	case 4: r = fl & FL_SF; break;
	case 5: r = fl & FL_PF; break;
	case 6: r = sf_ne_of; break;
	default: r = (fl & FL_ZF) || sf_ne_of; break;
	}
	return r != (cc & 1);
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

/* ---- operands ---- */

static uint32_t capreg(const struct mop *m, x86_reg r)
{
	switch (r) {
	case X86_REG_EAX: return m->regs[R_EAX];
	case X86_REG_ECX: return m->regs[R_ECX];
	case X86_REG_EDX: return m->regs[R_EDX];
	case X86_REG_EBX: return m->regs[R_EBX];
	case X86_REG_ESP: return m->regs[R_ESP];
	case X86_REG_EBP: return m->regs[R_EBP];
	case X86_REG_ESI: return m->regs[R_ESI];
	case X86_REG_EDI: return m->regs[R_EDI];
	default:
		assert(!"memop: unexpected address register");
		return 0;
	}
}

/* The ModRM memory operand: effective address and segment (the override, else SS
 * for an ESP or EBP base, else DS: SDM Vol. 1, 3.7.4). */
static struct mref ea(const struct mop *m)
{
	const cs_x86_op *o = NULL;
	for (int k = 0; k < m->x->op_count; k++)
		if (m->x->operands[k].type == X86_OP_MEM)
			o = &m->x->operands[k];
	assert(o);
	uint32_t off = (uint32_t)o->mem.disp;
	if (o->mem.base != X86_REG_INVALID)
		off += capreg(m, o->mem.base);
	if (o->mem.index != X86_REG_INVALID)
		off += capreg(m, o->mem.index) * (uint32_t)o->mem.scale;
	int sr = SR_DS;
	if (m->seg >= 0)
		sr = m->seg;
	else if (o->mem.base == X86_REG_ESP || o->mem.base == X86_REG_EBP)
		sr = SR_SS;
	return (struct mref){ .sr = sr, .off = off };
}

static int mread(struct mop *m, struct mref r, int size, uint32_t *v)
{
	*v = 0;
	return seg_read(m->vm, r.sr, r.off, v, (uint32_t)size);
}

static int mwrite(struct mop *m, struct mref r, int size, uint32_t v)
{
	return seg_write(m->vm, r.sr, r.off, &v, (uint32_t)size);
}

/* The read of a read-modify-write: the write is checked first, the segment and then
 * the page tables, as the CPU's read with write intent does (its #PF has W set). */
static int rmw_read(struct mop *m, struct mref r, int size, uint32_t *v)
{
	struct vm *vm = m->vm;
	const struct seg *s = &vm->cpu.seg[r.sr];
	int vec = seg_check(s, r.sr, r.off, (uint32_t)size, true);
	if (vec >= 0) {
		exc_raise(vm, vec, true, 0);
		return -1;
	}
	uint32_t lin = s->base + r.off;
	uint64_t pa;
	unsigned acc = PF_ACC_WRITE | (vm->cpu.cpl == 3 ? PF_ACC_USER : 0);
	if (mmu_translate(vm->mmu, lin, acc, &pa) < 0 ||
	    mmu_translate(vm->mmu, lin + (uint32_t)size - 1, acc, &pa) < 0)
		return -1;
	return mread(m, r, size, v);
}

static uint32_t imm(const struct mop *m, int size)
{
	uint32_t v = 0;
	memcpy(&v, m->end - size, (size_t)size);
	return v;
}

/* ---- the instructions ---- */

/* op (ALU 0-7, N_TEST, a shift) on the memory operand with source src. */
static int alu_mem(struct mop *m, int op, int size, uint32_t src)
{
	struct mref r = ea(m);
	bool write = op != N_CMP && op != N_TEST;
	uint32_t v;
	if ((write ? rmw_read(m, r, size, &v) : mread(m, r, size, &v)) < 0)
		return -1;
	uint64_t f = flags_in(m);
	v = native(op, size, v, src, &f);
	if (write && mwrite(m, r, size, v) < 0)
		return -1;
	flags_out(m, f);
	return 1;
}

/* ALU op 0-7 into the ModRM register, from memory. */
static int alu_reg(struct mop *m, int op, int size)
{
	uint32_t v;
	if (mread(m, ea(m), size, &v) < 0)
		return -1;
	uint64_t f = flags_in(m);
	uint32_t d = native(op, size, gpr_read(m, m->reg, size), v, &f);
	if (op != N_CMP)
		gpr_write(m, m->reg, size, d);
	flags_out(m, f);
	return 1;
}

/* INC, DEC, NEG (op) or NOT (op < 0: no flags). */
static int unary(struct mop *m, int op, int size)
{
	struct mref r = ea(m);
	uint32_t v;
	if (rmw_read(m, r, size, &v) < 0)
		return -1;
	uint64_t f = flags_in(m);
	v = op < 0 ? ~v : native(op, size, v, 0, &f);
	if (mwrite(m, r, size, v) < 0)
		return -1;
	if (op >= 0)
		flags_out(m, f);
	return 1;
}

/* C0/C1 (count imm8), D0/D1 (one), D2/D3 (CL). The CPU masks the count; a count of
 * zero leaves the flags alone, and the operand is written back all the same. */
static int shift(struct mop *m, int size)
{
	uint8_t o = m->op[0];
	if (o == 0xd0 || o == 0xd1)
		return alu_mem(m, N_SHIFT1 + m->reg, size, 1);
	uint32_t count = o <= 0xc1 ? imm(m, 1) : m->regs[R_ECX] & 0xff;
	return alu_mem(m, N_SHIFT + m->reg, size, count);
}

static int mov(struct mop *m)
{
	uint8_t o = m->op[0];
	int size = (o & 1) ? m->osize : 1;
	uint32_t v;
	switch (o) {
	case 0x88:
	case 0x89:
		return mwrite(m, ea(m), size, gpr_read(m, m->reg, size)) < 0 ? -1 : 1;
	case 0x8a:
	case 0x8b:
		if (mread(m, ea(m), size, &v) < 0)
			return -1;
		gpr_write(m, m->reg, size, v);
		return 1;
	case 0xc6:
	case 0xc7:
		return mwrite(m, ea(m), size, imm(m, size)) < 0 ? -1 : 1;
	}
	/* A0-A3: the moffs32 is the displacement alone; DS unless overridden. */
	struct mref r = { .sr = m->seg >= 0 ? m->seg : SR_DS };
	memcpy(&r.off, m->op + 1, 4);
	if (o & 2)
		return mwrite(m, r, size, gpr_read(m, R_EAX, size)) < 0 ? -1 : 1;
	if (mread(m, r, size, &v) < 0)
		return -1;
	gpr_write(m, R_EAX, size, v);
	return 1;
}

/* MOVZX/MOVSX r16/32, m8/m16 (0F B6 B7 BE BF). */
static int movx(struct mop *m)
{
	int ssize = (m->op[1] & 1) ? 2 : 1;
	uint32_t v;
	if (mread(m, ea(m), ssize, &v) < 0)
		return -1;
	if (m->op[1] & 8)
		v = ssize == 1 ? (uint32_t)(int8_t)v : (uint32_t)(int16_t)v;
	gpr_write(m, m->reg, m->osize, v);
	return 1;
}

static int xchg(struct mop *m, int size)
{
	struct mref r = ea(m);
	uint32_t v;
	if (rmw_read(m, r, size, &v) < 0 || mwrite(m, r, size, gpr_read(m, m->reg, size)) < 0)
		return -1;
	gpr_write(m, m->reg, size, v);
	return 1;
}

static int cmpxchg(struct mop *m, int size)
{
	struct mref r = ea(m);
	uint32_t v, acc = gpr_read(m, R_EAX, size);
	if (rmw_read(m, r, size, &v) < 0)
		return -1;
	uint64_t f = flags_in(m);
	v = native_cmpxchg(size, &acc, v, gpr_read(m, m->reg, size), &f);
	if (mwrite(m, r, size, v) < 0)
		return -1;
	gpr_write(m, R_EAX, size, acc);
	flags_out(m, f);
	return 1;
}

static int xadd(struct mop *m, int size)
{
	struct mref r = ea(m);
	uint32_t v, s = gpr_read(m, m->reg, size);
	if (rmw_read(m, r, size, &v) < 0)
		return -1;
	uint64_t f = flags_in(m);
	v = native_xadd(size, v, &s, &f);
	if (mwrite(m, r, size, v) < 0)
		return -1;
	gpr_write(m, m->reg, size, s);
	flags_out(m, f);
	return 1;
}

/*
 * BT/BTS/BTR/BTC (which 0-3) with a register or immediate bit offset. The register
 * form addresses a bit string: the operand at EA + size * (offset SAR log2(bits)),
 * the offset being signed (SDM Vol. 2, BT, "Bit(BitBase, BitOffset)"); the immediate
 * is taken modulo the operand size.
 */
static int bitop(struct mop *m, int which, bool immediate)
{
	int size = m->osize, bits = size * 8;
	struct mref r = ea(m);
	uint32_t bit;
	if (immediate) {
		bit = imm(m, 1) & (uint32_t)(bits - 1);
	} else {
		int32_t off = size == 2 ? (int16_t)m->regs[m->reg] : (int32_t)m->regs[m->reg];
		r.off += (uint32_t)((off >> (size == 2 ? 4 : 5)) * size);
		bit = (uint32_t)off & (uint32_t)(bits - 1);
	}
	uint32_t v;
	if ((which ? rmw_read(m, r, size, &v) : mread(m, r, size, &v)) < 0)
		return -1;
	uint64_t f = flags_in(m);
	v = native(N_BT + which, size, v, bit, &f);
	if (which && mwrite(m, r, size, v) < 0)
		return -1;
	flags_out(m, f);
	return 1;
}

/* PUSH m (FF /6): the address is computed before ESP moves. */
static int push_mem(struct mop *m)
{
	uint32_t v;
	if (mread(m, ea(m), m->osize, &v) < 0)
		return -1;
	return stack_push(m->vm, v, m->osize) < 0 ? -1 : 1;
}

/* POP m (8F /0): an ESP base is the incremented ESP (SDM Vol. 2, POP). */
static int pop_mem(struct mop *m)
{
	uint32_t v, esp = m->regs[R_ESP];
	if (stack_pop(m->vm, &v, m->osize) < 0)
		return -1;
	if (mwrite(m, ea(m), m->osize, v) < 0) {
		m->regs[R_ESP] = esp;
		return -1;
	}
	return 1;
}

/*
 * Instructions whose only memory operand is the stack (run in the emulator when the
 * stack lies where the host cannot reach it: the top WIN_SIZE bytes, or above a CPL-3
 * guest's supervisor pages). Returns 1 (EIP to m->next, which a transfer changes),
 * 0 if not one of them, -1 after a fault with the state as before.
 */
static int stack_op(struct mop *m)
{
	struct vm *vm = m->vm;
	const uint8_t *op = m->op;
	uint32_t esp = m->regs[R_ESP], v = 0;
	int size = m->osize;
	switch (op[0]) {
	case 0x50 ... 0x57:                     /* PUSH r (ESP pushes its old value) */
		return stack_push(vm, gpr_read(m, op[0] & 7, size), size) < 0 ? -1 : 1;
	case 0x58 ... 0x5f:                     /* POP r */
		if (stack_pop(vm, &v, size) < 0)
			return -1;
		gpr_write(m, op[0] & 7, size, v);
		return 1;
	case 0x06: case 0x0e: case 0x16: case 0x1e:     /* PUSH sreg: zero-extended */
		return stack_push(vm, vm->cpu.seg[op[0] >> 3].sel, size) < 0 ? -1 : 1;
	case 0x0f:
		if (op[1] != 0xa0 && op[1] != 0xa8)
			return 0;
		return stack_push(vm, vm->cpu.seg[op[1] == 0xa0 ? SR_FS : SR_GS].sel, size) < 0 ?
		       -1 : 1;
	case 0x68:
		return stack_push(vm, imm(m, size), size) < 0 ? -1 : 1;
	case 0x6a:
		return stack_push(vm, (uint32_t)(int8_t)imm(m, 1), size) < 0 ? -1 : 1;
	case 0x60: {                            /* PUSHA */
		uint32_t saved[8];
		memcpy(saved, m->regs, sizeof(saved));
		for (int r = 0; r < 8; r++)
			if (stack_push(vm, r == R_ESP ? esp : saved[r], size) < 0) {
				m->regs[R_ESP] = esp;
				return -1;
			}
		return 1;
	}
	case 0x61: {                            /* POPA: the ESP slot is skipped */
		uint32_t vals[8];
		for (int r = 7; r >= 0; r--)
			if (stack_pop(vm, &vals[r], size) < 0) {
				m->regs[R_ESP] = esp;
				return -1;
			}
		for (int r = 0; r < 8; r++)
			if (r != R_ESP)
				gpr_write(m, r, size, vals[r]);
		return 1;
	}
	case 0xc9:                              /* LEAVE: SP <- BP on a 16-bit stack */
		if (vm->cpu.seg[SR_SS].attr & SEG_DB)
			m->regs[R_ESP] = m->regs[R_EBP];
		else
			m->regs[R_ESP] = (esp & 0xffff0000u) | (m->regs[R_EBP] & 0xffff);
		if (stack_pop(vm, &v, size) < 0) {
			m->regs[R_ESP] = esp;
			return -1;
		}
		gpr_write(m, R_EBP, size, v);
		return 1;
	case 0xe8: {                            /* CALL rel */
		int32_t rel;
		if (size == 4) {
			memcpy(&rel, m->end - 4, 4);
		} else {
			int16_t r16;
			memcpy(&r16, m->end - 2, 2);
			rel = r16;
		}
		uint32_t target = m->next + (uint32_t)rel;
		if (size == 2)
			target &= 0xffff;
		if (target > vm->cpu.seg[SR_CS].limit) {
			exc_raise(vm, VEC_GP, true, 0);
			return -1;
		}
		if (stack_push(vm, m->next, size) < 0)
			return -1;
		m->next = target;
		return 1;
	}
	case 0xc2:
	case 0xc3: {                            /* RET [imm16] */
		if (stack_pop(vm, &v, size) < 0)
			return -1;
		if (size == 2)
			v &= 0xffff;
		if (v > vm->cpu.seg[SR_CS].limit) {
			m->regs[R_ESP] = esp;
			exc_raise(vm, VEC_GP, true, 0);
			return -1;
		}
		if (op[0] == 0xc2)
			stack_adjust(vm, imm(m, 2));
		m->next = v;
		return 1;
	}
	case 0x9c:                              /* PUSHF: the guest's image (no VM, RF) */
		return stack_push(vm, cpu_eflags(&vm->cpu) & ~(FL_VM | FL_RF), size) < 0 ? -1 : 1;
	case 0x9d: {                            /* POPF, with the CPL and IOPL rules */
		struct cpu *c = &vm->cpu;
		uint32_t old = cpu_eflags(c);
		uint32_t mask = FL_ARITH | FL_TF | FL_NT | FL_AC | FL_ID;
		if (c->cpl == 0)
			mask |= FL_IOPL;
		if ((unsigned)c->cpl <= ((old & FL_IOPL) >> 12))
			mask |= FL_IF;
		if (size == 2)
			mask &= 0xffff;
		if (stack_pop(vm, &v, size) < 0)
			return -1;
		if (v & mask & FL_TF) {
			m->regs[R_ESP] = esp;
			return 0;               /* single-stepping: not here */
		}
		cpu_set_eflags(c, (old & ~mask) | (v & mask));
		return 1;
	}
	case 0xff:                              /* CALL r/m */
		if (m->reg != 2)
			return 0;
		if (m->mod == 3)
			v = gpr_read(m, op[1] & 7, size);
		else if (mread(m, ea(m), size, &v) < 0)
			return -1;
		if (v > vm->cpu.seg[SR_CS].limit) {
			exc_raise(vm, VEC_GP, true, 0);
			return -1;
		}
		if (stack_push(vm, m->next, size) < 0)
			return -1;
		m->next = v;
		return 1;
	}
	return 0;
}

static int setcc(struct mop *m)
{
	uint32_t v = cond_true(cpu_eflags(&m->vm->cpu), m->op[1] & 15);
	return mwrite(m, ea(m), 1, v) < 0 ? -1 : 1;
}

/* ---- string instructions ---- */

/*
 * MOVS CMPS STOS LODS SCAS, with or without REP/REPE/REPNE (SDM Vol. 2, REP): one
 * element at a time, so a fault leaves ECX, ESI and EDI at the element that faulted
 * (EIP at the instruction), as the CPU leaves them for the restart. F2 on the
 * non-comparing ones repeats as F3 does. The source segment can be overridden, the
 * destination is always ES.
 */
/*
 * REP MOVS and REP STOS ascending over RAM move whole runs at once: n elements with
 * source and destination each inside one page and inside their segments, so the run
 * faults exactly where its first element would, and nothing can be half done. Not
 * where the two ranges share bytes (the CPU's element order then shows) or where a
 * page is a device's. Returns the elements moved (0: go one element at a time), -1
 * on a guest exception.
 */
static int64_t string_run(struct mop *m, struct mref src, struct mref dst, int size, uint32_t n,
			  bool movs)
{
	struct vm *vm = m->vm;
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
		uint32_t v = gpr_read(m, R_EAX, size);
		for (uint32_t k = 0; k < len; k += (uint32_t)size)
			memcpy(buf + k, &v, (size_t)size);
	}
	if (seg_write(vm, dst.sr, dst.off, buf, len) < 0)
		return -1;
	return n;
}

static int string(struct mop *m)
{
	uint8_t o = m->op[0] & ~1;
	int size = (m->op[0] & 1) ? m->osize : 1;
	uint32_t *regs = m->regs;
	uint32_t step = (m->vm->cpu.sh->eflags & FL_DF) ? -(uint32_t)size : (uint32_t)size;
	struct mref src = { .sr = m->seg >= 0 ? m->seg : SR_DS }, dst = { .sr = SR_ES };
	bool compare = o == 0xa6 || o == 0xae;

	for (int n = 0;; n++) {
		if (m->rep && regs[R_ECX] == 0)
			break;
		if (n == MEMOP_REP_BATCH)
			return MOP_AGAIN;
		src.off = regs[R_ESI];
		dst.off = regs[R_EDI];
		if (m->rep && (o == 0xa4 || o == 0xaa) && !(m->vm->cpu.sh->eflags & FL_DF)) {
			uint32_t want = regs[R_ECX];
			if (want > (uint32_t)(MEMOP_REP_BATCH - n))
				want = (uint32_t)(MEMOP_REP_BATCH - n);
			int64_t r = string_run(m, src, dst, size, want, o == 0xa4);
			if (r < 0)
				return -1;
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
			if (mread(m, src, size, &s) < 0 || mwrite(m, dst, size, s) < 0)
				return -1;
			break;
		case 0xa6:      /* CMPS: [ESI] - [EDI] */
			if (mread(m, src, size, &s) < 0 || mread(m, dst, size, &d) < 0)
				return -1;
			break;
		case 0xaa:      /* STOS */
			if (mwrite(m, dst, size, gpr_read(m, R_EAX, size)) < 0)
				return -1;
			break;
		case 0xac:      /* LODS */
			if (mread(m, src, size, &s) < 0)
				return -1;
			gpr_write(m, R_EAX, size, s);
			break;
		default:        /* SCAS: eAX - [EDI] */
			s = gpr_read(m, R_EAX, size);
			if (mread(m, dst, size, &d) < 0)
				return -1;
			break;
		}
		if (compare) {
			uint64_t f = flags_in(m);
			native(N_CMP, size, s, d, &f);
			flags_out(m, f);
		}
		if (o != 0xaa && o != 0xae)
			regs[R_ESI] += step;
		if (o != 0xac)
			regs[R_EDI] += step;
		if (!m->rep)
			break;
		regs[R_ECX]--;
		/* REPE ends on ZF = 0, REPNE on ZF = 1 */
		if (compare && (m->rep == 0xf3) != !!(m->vm->cpu.sh->eflags & FL_ZF))
			break;
	}
	return 1;
}

/* ---- dispatch ---- */

/* Is this a form memop handles that may not carry LOCK? (SDM Vol. 2, LOCK: #UD.)
 * Forms memop does not handle are left to the caller. */
static bool lock_ud(const struct mop *m)
{
	const uint8_t *op = m->op;
	if (op[0] == 0x0f)
		return (op[1] >= 0x90 && op[1] <= 0x9f) || op[1] == 0xa3 || op[1] == 0xb6 ||
		       op[1] == 0xb7 || op[1] == 0xbe || op[1] == 0xbf ||
		       (op[1] == 0xba && m->reg == 4);
	switch (op[0]) {
	case 0x00 ... 0x3f:             /* loads into a register and CMP */
		return (op[0] & 7) <= 3 && ((op[0] & 2) || op[0] >> 3 == N_CMP);
	case 0x80 ... 0x83:
		return m->reg == N_CMP;
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
		return m->reg == 0;
	case 0xf6:
	case 0xf7:
		return m->reg < 2;
	case 0xff:
		return m->reg == 6;
	}
	return false;
}

static int twobyte(struct mop *m)
{
	int size = (m->op[1] & 1) ? m->osize : 1;
	switch (m->op[1]) {
	case 0x90 ... 0x9f:
		return setcc(m);
	case 0xa3:
	case 0xab:
	case 0xb3:
	case 0xbb:
		return bitop(m, (m->op[1] >> 3) & 3, false);
	case 0xba:
		return m->reg >= 4 ? bitop(m, m->reg - 4, true) : 0;
	case 0xb0:
	case 0xb1:
		return cmpxchg(m, size);
	case 0xc0:
	case 0xc1:
		return xadd(m, size);
	case 0xb6:
	case 0xb7:
	case 0xbe:
	case 0xbf:
		return movx(m);
	}
	return 0;
}

static int dispatch(struct mop *m)
{
	const uint8_t *op = m->op;
	int size = (op[0] & 1) ? m->osize : 1;
	bool no_modrm = op[0] >= 0xa0 && op[0] <= 0xaf && op[0] != 0xa8 && op[0] != 0xa9;

	int r = stack_op(m);
	if (r != 0)
		return r;
	if (!no_modrm && m->mod == 3)
		return 0;               /* no memory operand */
	if (m->lock && lock_ud(m)) {
		exc_raise(m->vm, VEC_UD, false, 0);
		return -1;
	}
	if (op[0] == 0x0f)
		return twobyte(m);
	switch (op[0]) {
	case 0x00 ... 0x3f:             /* ADD..CMP Eb,Gb Ev,Gv Gb,Eb Gv,Ev */
		if ((op[0] & 7) > 3)
			return 0;
		if (op[0] & 2)
			return alu_reg(m, op[0] >> 3, size);
		return alu_mem(m, op[0] >> 3, size, gpr_read(m, m->reg, size));
	case 0x80:
	case 0x82:                      /* 82: 80's alias outside 64-bit mode */
		return alu_mem(m, m->reg, 1, imm(m, 1));
	case 0x81:
		return alu_mem(m, m->reg, size, imm(m, size));
	case 0x83:
		return alu_mem(m, m->reg, size, (uint32_t)(int8_t)imm(m, 1));
	case 0x84:
	case 0x85:
		return alu_mem(m, N_TEST, size, gpr_read(m, m->reg, size));
	case 0x86:
	case 0x87:
		return xchg(m, size);
	case 0x88 ... 0x8b:
	case 0xa0 ... 0xa3:
		return mov(m);
	case 0xc6:
	case 0xc7:
		return m->reg == 0 ? mov(m) : 0;
	case 0x8f:
		return m->reg == 0 ? pop_mem(m) : 0;
	case 0xa4 ... 0xa7:
	case 0xaa ... 0xaf:
		return string(m);
	case 0xc0:
	case 0xc1:
	case 0xd0 ... 0xd3:
		return shift(m, size);
	case 0xf6:
	case 0xf7:
		switch (m->reg) {
		case 0:
		case 1:                 /* /1: an alias of TEST /0 */
			return alu_mem(m, N_TEST, size, imm(m, size));
		case 2:
			return unary(m, -1, size);
		case 3:
			return unary(m, N_NEG, size);
		}
		return 0;
	case 0xfe:
	case 0xff:
		if (m->reg < 2)
			return unary(m, m->reg ? N_DEC : N_INC, size);
		return op[0] == 0xff && m->reg == 6 ? push_mem(m) : 0;
	}
	return 0;
}

/* Decode the instruction at the guest's EIP into m: 1, or 0 if it does not decode or
 * uses a 16-bit address size (16-bit code among it), or -1 if fetching it raised a
 * #PF. */
static int decode(struct vm *vm, struct mop *m, uint8_t bytes[16])
{
	struct cpu *c = &vm->cpu;
	int truncated;
	if (!(c->seg[SR_CS].attr & SEG_DB))
		return 0;
	const cs_insn *in = rw_decode_one(vm->rw, c->sh->eip, bytes, &truncated, NULL);
	if (!in)
		return truncated < 0 ? -1 : 0;
	int npfx = rw_prefix_len(bytes, in->size);
	*m = (struct mop){ .vm = vm, .regs = c->sh->regs, .x = &in->detail->x86,
			   .op = bytes + npfx, .end = bytes + in->size, .osize = 4, .seg = -1,
			   .next = c->sh->eip + in->size };
	for (int k = 0; k < npfx; k++) {
		switch (bytes[k]) {
		case 0x26: m->seg = SR_ES; break;
		case 0x2e: m->seg = SR_CS; break;
		case 0x36: m->seg = SR_SS; break;
		case 0x3e: m->seg = SR_DS; break;
		case 0x64: m->seg = SR_FS; break;
		case 0x65: m->seg = SR_GS; break;
		case 0x66: m->osize = 2; break;
		case 0x67: return 0;
		case 0xf0: m->lock = true; break;
		case 0xf2:
		case 0xf3: m->rep = bytes[k]; break;
		}
	}
	int mpos = m->op[0] == 0x0f ? 2 : 1;
	if (m->op + mpos < m->end) {
		m->mod = m->op[mpos] >> 6;
		m->reg = (m->op[mpos] >> 3) & 7;
	}
	return 1;
}

int memop_emulate(struct vm *vm)
{
	uint8_t bytes[16];
	struct mop m;
	int r = decode(vm, &m, bytes);
	if (r <= 0)
		return r;
	r = dispatch(&m);
	if (r == 1)
		vm->cpu.sh->eip = m.next;
	return r == MOP_AGAIN ? 1 : r;
}
