/*
 * decode.c - the emulators' front end (decode.h): one decode of the instruction at the
 * guest's EIP, its effective address, registers and memory operands, and the two
 * rules both emulators apply (a condition code, the bits POPF may change).
 *
 * Capstone (through rw_decode_one, which caches decodes and gives 16-bit code in its
 * 32-bit form) supplies the length and the memory operand's base, index, scale and
 * displacement; the prefixes and the ModRM fields are read from the bytes, as the
 * rewriter classifies them. Done once per callout or emulated access, before the
 * emulator knows which of its handlers the instruction is for.
 */
#include "decode.h"

#include <assert.h>
#include <string.h>

#include <capstone/capstone.h>

#include "segments.h"
#include "vm.h"
#include "../rewriter/rewriter.h"

int insn_decode(struct vm *vm, struct insn *i)
{
	struct cpu *c = &vm->cpu;
	int truncated, glen;
	i->vm = vm;
	i->c = c;
	i->regs = c->sh->regs;
	const cs_insn *in = rw_decode_one(vm->rw, c->sh->eip, i->b, &truncated, &glen);
	if (!in)
		return truncated < 0 ? -1 : truncated ? VEC_GP : VEC_UD;
	i->cs = in;
	i->x = &in->detail->x86;
	i->len = in->size;
	i->next = c->sh->eip + (uint32_t)glen;
	i->npfx = rw_prefix_len(i->b, i->len);
	i->op = i->b + i->npfx;
	i->o16 = i->a16 = i->lock = false;
	i->rep = 0;
	i->seg = -1;
	for (int k = 0; k < i->npfx; k++) {
		switch (i->b[k]) {
		case 0x26: i->seg = SR_ES; break;
		case 0x2e: i->seg = SR_CS; break;
		case 0x36: i->seg = SR_SS; break;
		case 0x3e: i->seg = SR_DS; break;
		case 0x64: i->seg = SR_FS; break;
		case 0x65: i->seg = SR_GS; break;
		case 0x66: i->o16 = true; break;
		case 0x67: i->a16 = true; break;
		case 0xf0: i->lock = true; break;
		case 0xf2:
		case 0xf3: i->rep = i->b[k]; break;
		}
	}
	i->osize = i->o16 ? 2 : 4;
	int mpos = i->op[0] == 0x0f ? 2 : 1;
	i->modrm = mpos < i->len - i->npfx ? i->op[mpos] : 0;
	i->mod = i->modrm >> 6;
	i->reg = (i->modrm >> 3) & 7;
	i->rm = i->modrm & 7;
	return 0;
}

enum emu_result emu_commit(struct insn *i, enum emu_result r)
{
	if (r == EMU_NEXT)
		i->c->sh->eip = i->next;
	return r;
}

uint32_t gpr_read(const struct insn *i, int r, int size)
{
	const uint32_t *regs = i->regs;
	if (size == 1)
		return r < 4 ? regs[r] & 0xff : (regs[r - 4] >> 8) & 0xff;
	return size == 2 ? regs[r] & 0xffff : regs[r];
}

void gpr_write(struct insn *i, int r, int size, uint32_t v)
{
	uint32_t *regs = i->regs;
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

/* The value of an address register as Capstone names it (a 16-bit one in 16-bit
 * addressing; EIZ, "no index", is 0). */
static uint32_t capreg(const struct insn *i, x86_reg r)
{
	switch (r) {
	case X86_REG_EAX: return i->regs[R_EAX];
	case X86_REG_ECX: return i->regs[R_ECX];
	case X86_REG_EDX: return i->regs[R_EDX];
	case X86_REG_EBX: return i->regs[R_EBX];
	case X86_REG_ESP: return i->regs[R_ESP];
	case X86_REG_EBP: return i->regs[R_EBP];
	case X86_REG_ESI: return i->regs[R_ESI];
	case X86_REG_EDI: return i->regs[R_EDI];
	case X86_REG_BX: return i->regs[R_EBX] & 0xffff;
	case X86_REG_BP: return i->regs[R_EBP] & 0xffff;
	case X86_REG_SI: return i->regs[R_ESI] & 0xffff;
	case X86_REG_DI: return i->regs[R_EDI] & 0xffff;
	case X86_REG_AX: return i->regs[R_EAX] & 0xffff;
	case X86_REG_CX: return i->regs[R_ECX] & 0xffff;
	case X86_REG_DX: return i->regs[R_EDX] & 0xffff;
	case X86_REG_SP: return i->regs[R_ESP] & 0xffff;
	default: return 0;
	}
}

/* The offset of memory operand m (Capstone's), and its segment by the default rules. */
struct mref insn_op_ea(const struct insn *i, const cs_x86_op *m)
{
	uint32_t off = (uint32_t)m->mem.disp;
	if (m->mem.base != X86_REG_INVALID)
		off += capreg(i, m->mem.base);
	if (m->mem.index != X86_REG_INVALID)
		off += capreg(i, m->mem.index) * (uint32_t)m->mem.scale;
	if (i->a16)
		off &= 0xffff;
	int sr = SR_DS;
	if (i->seg >= 0)
		sr = i->seg;
	else if (m->mem.base == X86_REG_ESP || m->mem.base == X86_REG_EBP ||
		 m->mem.base == X86_REG_SP || m->mem.base == X86_REG_BP)
		sr = SR_SS;
	return (struct mref){ .sr = sr, .off = off };
}

struct mref insn_ea(const struct insn *i)
{
	const cs_x86_op *m = NULL;
	for (int k = 0; k < i->x->op_count; k++)
		if (i->x->operands[k].type == X86_OP_MEM)
			m = &i->x->operands[k];
	assert(m);
	return insn_op_ea(i, m);
}

/*
 * Bytes of an operand where Capstone 4 gives none or more than the instruction
 * accesses (the SDM's operand column: Vol. 2, COMISS m32, COMISD m64, FSTSW m2byte,
 * PUNPCKLBW/WD/DQ mm, m32, FXSAVE m512byte; Vol. 1, 8.1.10: the 16-bit forms of the
 * x87 environment are smaller). A size too large would fault at a page end or segment
 * limit where the CPU does not, and write back bytes the instruction does not own.
 */
uint32_t insn_op_size(const struct insn *i, const struct cs_x86_op *m)
{
	const uint8_t *op = i->op;
	int rest = i->len - i->npfx;
	int reg = rest > 1 ? (op[op[0] == 0x0f && rest > 2 ? 2 : 1] >> 3) & 7 : 0;
	if (op[0] == 0xdd && reg == 7)
		return 2;                               /* FNSTSW m16 */
	if (op[0] == 0xdd && (reg == 4 || reg == 6))
		return i->o16 ? 94 : 108;               /* FRSTOR, FNSAVE */
	if (op[0] == 0xd9 && (reg == 4 || reg == 6))
		return i->o16 ? 14 : 28;                /* FLDENV, FNSTENV */
	if (op[0] == 0x0f && rest > 2) {
		switch (op[1]) {
		case 0xae:
			if (reg <= 1)
				return 512;             /* FXSAVE, FXRSTOR */
			break;
		case 0x2f:                              /* COMISS m32, (66) COMISD m64 */
			return i->o16 ? 8 : 4;
		case 0x60: case 0x61: case 0x62:        /* MMX PUNPCKLBW/WD/DQ mm, m32 */
			if (!i->o16)
				return 4;
			break;
		}
	}
	return m->size ? m->size : 1;
}

uint32_t insn_imm(const struct insn *i, int size)
{
	uint32_t v = 0;
	memcpy(&v, i->b + i->len - size, (size_t)size);
	return v;
}

int mref_read(const struct insn *i, struct mref r, int size, uint32_t *v)
{
	*v = 0;
	return seg_read(i->vm, r.sr, r.off, v, (uint32_t)size);
}

int mref_write(const struct insn *i, struct mref r, int size, uint32_t v)
{
	return seg_write(i->vm, r.sr, r.off, &v, (uint32_t)size);
}

int rm_read(const struct insn *i, int size, uint32_t *v)
{
	if (i->mod == 3) {
		*v = gpr_read(i, i->rm, size);
		return 0;
	}
	return mref_read(i, insn_ea(i), size, v);
}

int rm_write(struct insn *i, int size, uint32_t v)
{
	if (i->mod == 3) {
		gpr_write(i, i->rm, size, v);
		return 0;
	}
	return mref_write(i, insn_ea(i), size, v);
}

bool cond_true(uint32_t fl, int cc)
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

uint32_t popf_mask(const struct insn *i)
{
	const struct cpu *c = i->c;
	uint32_t mask = FL_ARITH | FL_TF | FL_NT | FL_AC | FL_ID;
	if (c->cpl == 0)
		mask |= FL_IOPL;
	if ((unsigned)c->cpl <= EFLAGS_IOPL(cpu_eflags(c)))
		mask |= FL_IF;
	return i->o16 ? mask & 0xffff : mask;
}

/* FXSAVE and FXRSTOR (0F AE /0, /1, memory forms) under CR0.EM are #NM, as x87
 * instructions are, not #UD as MMX/SSE ones are (SDM Vol. 2, FXSAVE and FXRSTOR,
 * protected-mode exceptions: #NM if CR0.TS or CR0.EM; editions of about 2007 listed
 * EM under #UD; QEMU raises #NM). */
static bool is_fxsave_fxrstor(const struct insn *i)
{
	const uint8_t *op = i->op;
	return op[0] == 0x0f && i->len - i->npfx > 2 && op[1] == 0xae && (op[2] >> 6) != 3 &&
	       ((op[2] >> 3) & 7) <= 1;
}

int insn_unavailable(const struct insn *i)
{
	const struct cpu *c = i->c;
	const uint8_t *op = i->op;
	if (rw_always_ud(i->b, i->npfx, i->len))
		return VEC_UD;
	if (!(c->cr4 & CR4_OSFXSR) && rw_is_sse(i->cs))
		return VEC_UD;
	if (!rw_is_fpu(op, i->len - i->npfx))
		return -1;
	if (op[0] == 0x9b)
		return (c->cr0 & CR0_TS) && (c->cr0 & CR0_MP) ? VEC_NM : -1;
	if ((c->cr0 & CR0_EM) && !(op[0] >= 0xd8 && op[0] <= 0xdf) && !is_fxsave_fxrstor(i))
		return VEC_UD;
	if (c->cr0 & (CR0_EM | CR0_TS))
		return VEC_NM;
	return -1;
}

uint32_t insn_bit_disp(const struct insn *i)
{
	const uint8_t *op = i->op;
	if (op[0] != 0x0f || (op[1] != 0xa3 && op[1] != 0xab && op[1] != 0xb3 && op[1] != 0xbb) ||
	    i->mod == 3)
		return 0;
	int32_t off = i->osize == 2 ? (int16_t)i->regs[i->reg] : (int32_t)i->regs[i->reg];
	return (uint32_t)((off >> (i->osize == 2 ? 4 : 5)) * i->osize);
}
