/*
 * emulate.c - the monitor's half of a callout: emulate one sensitive or privileged
 * instruction against the virtual CPU (the system instructions are in sysinsn.c), and
 * host faults in translated code that the monitor's segment shadows caused.
 *
 * Called with cpu.sh->eip at the instruction. The instruction is decoded again here
 * (callouts are rare enough that keeping no decode state in the cache pays). On
 * success EIP moves past it (or to a control transfer's target); on a guest fault an
 * exception is raised with EIP left at the instruction. Semantics from the SDM
 * Vol. 2 pages of each instruction; what the later protection and paging work brings
 * (rings 1-3, gates, tasks, paging, V86) stops the VM with a message saying so.
 */
#include "emulate.h"
#include "insn.h"

#include <stdio.h>
#include <string.h>
#include <x86intrin.h>

#include <capstone/capstone.h>

#include "cpuid.h"
#include "exceptions.h"
#include "interrupts.h"
#include "memop.h"
#include "privilege.h"
#include "segments.h"
#include "task.h"
#include "vm.h"
#include "../devices/ioport.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"


uint32_t gpr_read(struct insn *i, int r, int size)
{
	uint32_t *regs = REGS(i);
	if (size == 1)
		return r < 4 ? regs[r] & 0xff : (regs[r - 4] >> 8) & 0xff;
	return size == 2 ? regs[r] & 0xffff : regs[r];
}

void gpr_write(struct insn *i, int r, int size, uint32_t v)
{
	uint32_t *regs = REGS(i);
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

static uint32_t capreg(struct insn *i, x86_reg r)
{
	static const x86_reg r32[] = { X86_REG_EAX, X86_REG_ECX, X86_REG_EDX, X86_REG_EBX,
				       X86_REG_ESP, X86_REG_EBP, X86_REG_ESI, X86_REG_EDI };
	static const x86_reg r16[] = { X86_REG_AX, X86_REG_CX, X86_REG_DX, X86_REG_BX,
				       X86_REG_SP, X86_REG_BP, X86_REG_SI, X86_REG_DI };
	for (int k = 0; k < 8; k++) {
		if (r == r32[k])
			return REGS(i)[k];
		if (r == r16[k])
			return REGS(i)[k] & 0xffff;
	}
	return 0;
}

/* Effective address and segment of the instruction's memory operand. */
void mem_operand(struct insn *i, int *sr, uint32_t *off)
{
	const cs_x86_op *m = NULL;
	for (int k = 0; k < i->x->op_count; k++)
		if (i->x->operands[k].type == X86_OP_MEM)
			m = &i->x->operands[k];
	assert(m);
	uint32_t ea = (uint32_t)m->mem.disp;
	if (m->mem.base != X86_REG_INVALID)
		ea += capreg(i, m->mem.base);
	if (m->mem.index != X86_REG_INVALID)
		ea += capreg(i, m->mem.index) * (uint32_t)m->mem.scale;
	if (i->a16)
		ea &= 0xffff;
	*off = ea;
	if (i->seg >= 0)
		*sr = i->seg;
	else if (m->mem.base == X86_REG_ESP || m->mem.base == X86_REG_EBP ||
		 m->mem.base == X86_REG_SP || m->mem.base == X86_REG_BP)
		*sr = SR_SS;
	else
		*sr = SR_DS;
}

int rm_read(struct insn *i, int size, uint32_t *v)
{
	if (i->mod == 3) {
		*v = gpr_read(i, i->rm, size);
		return 0;
	}
	int sr;
	uint32_t off;
	mem_operand(i, &sr, &off);
	*v = 0;
	return seg_read(i->vm, sr, off, v, (uint32_t)size);
}

int rm_write(struct insn *i, int size, uint32_t v)
{
	if (i->mod == 3) {
		gpr_write(i, i->rm, size, v);
		return 0;
	}
	int sr;
	uint32_t off;
	mem_operand(i, &sr, &off);
	return seg_write(i->vm, sr, off, &v, (uint32_t)size);
}

void set_zf(struct insn *i, bool z)
{
	if (z)
		i->c->sh->eflags |= FL_ZF;
	else
		i->c->sh->eflags &= ~FL_ZF;
}

int gp0(struct insn *i)
{
	exc_raise(i->vm, VEC_GP, true, 0);
	return -1;
}

int ud(struct insn *i)
{
	exc_raise(i->vm, VEC_UD, false, 0);
	return -1;
}

static int nm(struct insn *i)
{
	exc_raise(i->vm, VEC_NM, false, 0);
	return -1;
}

int unsupported(struct insn *i, const char *what)
{
	vm_stop(i->vm, STOP_MONITOR_ERROR, 6, "eip %#x: %s not supported yet", i->c->sh->eip, what);
	return -1;
}

bool privileged(struct insn *i) { return i->c->cpl == 0; }
static bool io_allowed(struct insn *i)
{
	return (unsigned)i->c->cpl <= ((i->c->sh->vflags & FL_IOPL) >> 12);
}

/* ---- flags ---- */

static int do_popf(struct insn *i)
{
	struct cpu *c = i->c;
	uint32_t v, old = cpu_eflags(c);
	if (stack_pop(i->vm, &v, i->o16 ? 2 : 4) < 0)
		return -1;
	uint32_t mask = FL_ARITH | FL_TF | FL_NT | FL_AC | FL_ID;
	if (c->cpl == 0)
		mask |= FL_IOPL;
	if ((unsigned)c->cpl <= ((old & FL_IOPL) >> 12))
		mask |= FL_IF;
	if (i->o16)
		mask &= 0xffff;
	cpu_set_eflags(c, (old & ~mask) | (v & mask));
	return 0;
}

/* ---- I/O ---- */

static int io_size(struct insn *i)
{
	return (i->op[0] & 1) ? (i->o16 ? 2 : 4) : 1;
}

static int do_inout(struct insn *i)
{
	int size = io_size(i);
	uint16_t port = (i->op[0] & 8) ? (uint16_t)REGS(i)[R_EDX] : i->op[1];
	if (!io_permitted(i->vm, port, size))
		return gp0(i);
	if ((i->op[0] & 2) == 0)
		gpr_write(i, R_EAX, size, io_in(i->vm->io, port, size));
	else
		io_out(i->vm->io, port, size, gpr_read(i, R_EAX, size));
	return 0;
}

/* Elements one REP INS/OUTS callout moves before it lets the dispatcher look at
 * signals and interrupts; the instruction then resumes, as REP string instructions
 * do after an interrupt (SDM Vol. 2, REP). */
#define REP_IO_BATCH 4096

/* INS/OUTS, with REP: one element per iteration so a fault leaves ECX/ESI/EDI
 * consistent for the restart, as on the real CPU. Returns 0 when done, 1 when
 * interrupted with ECX left (EIP stays at the instruction). */
static int do_string_io(struct insn *i)
{
	int size = io_size(i);
	bool out = i->op[0] & 2;
	uint16_t port = (uint16_t)REGS(i)[R_EDX];
	if (!io_permitted(i->vm, port, size))
		return gp0(i);
	int idx = out ? R_ESI : R_EDI;
	int32_t step = (i->c->sh->eflags & FL_DF) ? -size : size;
	uint32_t amask = i->a16 ? 0xffff : 0xffffffff;
	for (int n = 0;; n++) {
		if (i->rep && (REGS(i)[R_ECX] & amask) == 0)
			break;
		if (n == REP_IO_BATCH)
			return 1;
		uint32_t off = REGS(i)[idx] & amask, v = 0;
		if (out) {
			if (seg_read(i->vm, i->seg >= 0 ? i->seg : SR_DS, off, &v, (uint32_t)size) < 0)
				return -1;
			io_out(i->vm->io, port, size, v);
		} else {
			v = io_in(i->vm->io, port, size);
			if (seg_write(i->vm, SR_ES, off, &v, (uint32_t)size) < 0)
				return -1;
		}
		REGS(i)[idx] = (REGS(i)[idx] & ~amask) | ((off + (uint32_t)step) & amask);
		if (!i->rep)
			break;
		REGS(i)[R_ECX] = (REGS(i)[R_ECX] & ~amask) | ((REGS(i)[R_ECX] - 1) & amask);
		if (i->vm->stop != STOP_NONE)
			break;
	}
	return 0;
}

/* ---- control transfers ---- */

/* Is condition cc (the low nibble of a Jcc opcode) true? SDM Vol. 1, Appendix B. */
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

static int32_t rel_operand(struct insn *i, const uint8_t *p)
{
	if (i->o16)
		return (int16_t)(p[0] | p[1] << 8);
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

/*
 * Near JMP/CALL/RET, Jcc, LOOP/JCXZ in the forms translated as callouts: 16-bit
 * operand size, a target past the CS limit, or a checked indirect branch. The limit
 * check comes before any other effect (SDM Vol. 2, JMP, CALL, RET, LOOP: #GP(0)
 * when the target is outside the code segment); a branch not taken never faults.
 * Returns 0 (not taken), 1 (EIP set) or -1.
 */
static int do_near_branch(struct insn *i)
{
	const uint8_t *op = i->op;
	struct cpu *c = i->c;
	uint32_t fl = c->sh->eflags, esp = REGS(i)[R_ESP], target = 0;
	int size = i->o16 ? 2 : 4, asz = i->a16 ? 2 : 4;
	uint32_t count = gpr_read(i, R_ECX, asz);
	bool taken = true, call = false, loop = false;
	uint16_t extra = 0;

	switch (op[0]) {
	case 0x70 ... 0x7f:
		taken = cond_true(fl, op[0] & 15);
		target = i->next + (uint32_t)(int8_t)op[1];
		break;
	case 0x0f:
		taken = cond_true(fl, op[1] & 15);
		target = i->next + (uint32_t)rel_operand(i, op + 2);
		break;
	case 0xe0 ... 0xe2:
		loop = true;
		count = (count - 1) & (i->a16 ? 0xffffu : 0xffffffffu);
		taken = count && (op[0] == 0xe2 || !(fl & FL_ZF) == (op[0] == 0xe0));
		target = i->next + (uint32_t)(int8_t)op[1];
		break;
	case 0xe3:
		taken = count == 0;
		target = i->next + (uint32_t)(int8_t)op[1];
		break;
	case 0xeb:
		target = i->next + (uint32_t)(int8_t)op[1];
		break;
	case 0xe8:
	case 0xe9:
		call = op[0] == 0xe8;
		target = i->next + (uint32_t)rel_operand(i, op + 1);
		break;
	case 0xc2:
	case 0xc3:
		if (op[0] == 0xc2)
			memcpy(&extra, op + 1, 2);
		if (stack_pop(i->vm, &target, size) < 0)
			return -1;
		break;
	case 0xff:
		call = i->reg == 2;
		if (rm_read(i, size, &target) < 0)
			return -1;
		break;
	default:
		return unsupported(i, "this branch");
	}
	if (taken) {
		if (i->o16)
			target &= 0xffff;
		if (target > c->seg[SR_CS].limit) {
			REGS(i)[R_ESP] = esp;
			return gp0(i);
		}
		if (call && stack_push(i->vm, i->next, size) < 0)
			return -1;
		c->sh->eip = target;
	}
	if (loop)
		gpr_write(i, R_ECX, asz, count);
	stack_adjust(i->vm, extra);
	return taken ? 1 : 0;
}

/* The system descriptor sel names (S clear): its type, or -1 for anything else. */
static int system_desc(struct insn *i, uint16_t sel, uint64_t *d)
{
	if ((sel & ~3u) == 0 || !desc_fetch(i->vm, sel, d, NULL) || (*d & (1ull << 44)))
		return -1;
	return (int)((*d >> 40) & 0xf);
}

/* Far JMP/CALL to a TSS or through a task gate (SDM Vol. 3, 7.3): DPL checks, then
 * the switch. */
static int far_to_task(struct insn *i, uint16_t sel, uint64_t d, int type, bool call)
{
	unsigned dpl = (d >> 45) & 3;
	if (dpl < (unsigned)i->c->cpl || dpl < (sel & 3u)) {
		exc_raise(i->vm, VEC_GP, true, sel & 0xfffc);
		return -1;
	}
	if (!(d & (1ull << 47))) {
		exc_raise(i->vm, VEC_NP, true, sel & 0xfffc);
		return -1;
	}
	uint16_t tss = type == 5 ? (uint16_t)(d >> 16) : sel;
	return task_switch(i->vm, tss, call ? TASK_CALL : TASK_JMP, i->next, false, 0);
}

/* A far JMP or CALL to a gate or TSS; 1 if sel is none of those. */
static int far_system(struct insn *i, uint16_t sel, bool call)
{
	uint64_t d;
	int type = system_desc(i, sel, &d);
	if (type == 4 || type == 12)
		return far_via_call_gate(i->vm, sel, d, call, i->next);
	if (type == 5 || type == 9)
		return far_to_task(i, sel, d, type, call);
	return 1;
}

static int far_jump(struct insn *i, uint16_t sel, uint32_t off)
{
	int r = far_system(i, sel, false);
	if (r <= 0)
		return r;
	return seg_load_cs(i->vm, sel, off);
}

static int far_call(struct insn *i, uint16_t sel, uint32_t off)
{
	struct cpu *c = i->c;
	int r = far_system(i, sel, true);
	if (r <= 0)
		return r;
	uint32_t esp = REGS(i)[R_ESP];
	uint16_t old_cs = c->seg[SR_CS].sel;
	int size = i->o16 ? 2 : 4;
	if (stack_push(i->vm, old_cs, size) < 0 || stack_push(i->vm, i->next, size) < 0) {
		REGS(i)[R_ESP] = esp;
		return -1;
	}
	if (seg_load_cs(i->vm, sel, off) < 0) {
		REGS(i)[R_ESP] = esp;
		return -1;
	}
	return 0;
}

/*
 * A return (RET far, IRET) to an outer level (SDM Vol. 2, RET "RETURN-TO-OUTER-
 * PRIVILEGE-LEVEL", IRET "RETURN-OUTER-PRIVILEGE-LEVEL"). ESP points past the popped
 * CS (and EFLAGS); extra: RET n's byte count, released on both stacks. On success the
 * CPL is the RPL of sel, SS:ESP popped, and fl (IRET) still to be applied by the caller
 * with the old CPL's rules, which it read before.
 */
static int outer_return(struct insn *i, uint16_t sel, uint32_t eip, uint16_t extra)
{
	struct vm *vm = i->vm;
	struct cpu *c = i->c;
	uint64_t d;
	int size = i->o16 ? 2 : 4;
	if ((sel & ~3u) == 0) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	if (!desc_fetch(vm, sel, &d, NULL)) {
		exc_raise(vm, VEC_GP, true, sel & 0xfffc);
		return -1;
	}
	struct seg cs;
	seg_from_desc(&cs, sel, d);
	unsigned type = SEG_TYPE(cs.attr), dpl = SEG_DPL(cs.attr), rpl = sel & 3u;
	if (!(cs.attr & SEG_S) || !(type & 8) || ((type & 4) ? dpl > rpl : dpl != rpl)) {
		exc_raise(vm, VEC_GP, true, sel & 0xfffc);
		return -1;
	}
	if (!(cs.attr & SEG_P)) {
		exc_raise(vm, VEC_NP, true, sel & 0xfffc);
		return -1;
	}
	uint32_t nesp = 0, nss = 0;
	stack_adjust(vm, extra);
	if (stack_pop(vm, &nesp, size) < 0 || stack_pop(vm, &nss, size) < 0)
		return -1;
	struct seg ss;
	if (stack_seg_check(vm, (uint16_t)nss, (int)rpl, &ss, VEC_GP, 0) < 0)
		return -1;
	if (eip > cs.limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	cs.attr |= 1;
	if (!(ss.attr & SEG_DB))
		nesp &= 0xffff;
	priv_switch(vm, &cs, (int)rpl, &ss, i->o16 ? (c->sh->regs[R_ESP] & ~0xffffu) | nesp : nesp);
	stack_adjust(vm, extra);
	c->sh->eip = eip;
	priv_drop_data_segs(vm);
	return 0;
}

static int far_ret(struct insn *i, uint16_t extra)
{
	uint32_t esp = REGS(i)[R_ESP], eip, cs;
	int size = i->o16 ? 2 : 4;
	if (stack_pop(i->vm, &eip, size) < 0 || stack_pop(i->vm, &cs, size) < 0) {
		REGS(i)[R_ESP] = esp;
		return -1;
	}
	if ((cs & 3) > (unsigned)i->c->cpl) {
		if (outer_return(i, (uint16_t)cs, eip, extra) < 0) {
			REGS(i)[R_ESP] = esp;
			return -1;
		}
		return 0;
	}
	if ((cs & 3) < (unsigned)i->c->cpl) {  /* SDM Vol. 2, RET: RPL < CPL is #GP */
		REGS(i)[R_ESP] = esp;
		exc_raise(i->vm, VEC_GP, true, cs & 0xfffc);
		return -1;
	}
	if (seg_load_cs(i->vm, (uint16_t)cs, eip) < 0) {
		REGS(i)[R_ESP] = esp;
		return -1;
	}
	stack_adjust(i->vm, extra);
	return 0;
}

static int do_iret(struct insn *i)
{
	struct cpu *c = i->c;
	uint32_t esp = REGS(i)[R_ESP], eip, cs, fl;
	int size = i->o16 ? 2 : 4;
	if (c->sh->vflags & FL_NT)
		return task_return(i->vm, i->next);
	if (stack_pop(i->vm, &eip, size) < 0 || stack_pop(i->vm, &cs, size) < 0 ||
	    stack_pop(i->vm, &fl, size) < 0) {
		REGS(i)[R_ESP] = esp;
		return -1;
	}
	if (fl & FL_VM && !i->o16 && c->cpl == 0) {
		REGS(i)[R_ESP] = esp;
		return unsupported(i, "IRET to virtual-8086 mode");
	}
	/* Which flags IRET may change depends on the CPL before it (SDM Vol. 2, IRET). */
	uint32_t old = cpu_eflags(c);
	uint32_t mask = FL_ARITH | FL_TF | FL_NT | FL_AC | FL_ID | FL_RF;
	if (c->cpl == 0)
		mask |= FL_IOPL | FL_VIF | FL_VIP;
	if ((unsigned)c->cpl <= ((old & FL_IOPL) >> 12))
		mask |= FL_IF;
	if ((cs & 3) > (unsigned)c->cpl) {
		if (outer_return(i, (uint16_t)cs, eip, 0) < 0) {
			REGS(i)[R_ESP] = esp;
			return -1;
		}
	} else if ((cs & 3) < (unsigned)c->cpl) {      /* SDM Vol. 2, IRET: #GP(sel) */
		REGS(i)[R_ESP] = esp;
		exc_raise(i->vm, VEC_GP, true, cs & 0xfffc);
		return -1;
	} else if (seg_load_cs(i->vm, (uint16_t)cs, eip) < 0) {
		REGS(i)[R_ESP] = esp;
		return -1;
	}
	if (i->o16)
		mask &= 0xffff;
	cpu_set_eflags(c, (old & ~mask) | (fl & mask));
	return 0;
}

/* Read a far pointer m16:32 (or m16:16) at the memory operand: offset, then selector. */
static int read_farptr(struct insn *i, uint16_t *sel, uint32_t *off)
{
	int sr;
	uint32_t ea, o = 0;
	uint16_t s;
	int size = i->o16 ? 2 : 4;
	mem_operand(i, &sr, &ea);
	if (seg_read(i->vm, sr, ea, &o, (uint32_t)size) < 0 ||
	    seg_read(i->vm, sr, ea + (uint32_t)size, &s, 2) < 0)
		return -1;
	*off = o;
	*sel = s;
	return 0;
}

/* ---- segment registers ---- */

static int do_push_sreg(struct insn *i, int sr)
{
	return stack_push(i->vm, i->c->seg[sr].sel, i->o16 ? 2 : 4);
}

static int do_pop_sreg(struct insn *i, int sr)
{
	uint32_t esp = REGS(i)[R_ESP], v;
	if (stack_pop(i->vm, &v, i->o16 ? 2 : 4) < 0)
		return -1;
	if (seg_load(i->vm, sr, (uint16_t)v) < 0) {
		REGS(i)[R_ESP] = esp;
		return -1;
	}
	return 0;
}

/* LDS/LES/LFS/LGS/LSS r, m16:32 */
static int do_lxs(struct insn *i, int sr)
{
	uint16_t sel;
	uint32_t off;
	if (i->mod == 3)
		return ud(i);
	if (read_farptr(i, &sel, &off) < 0 || seg_load(i->vm, sr, sel) < 0)
		return -1;
	gpr_write(i, i->reg, i->o16 ? 2 : 4, off);
	return 0;
}

/* ---- dispatch ---- */

/* Emulate; 0 = done (EIP to next), 1 = done with EIP set, -1 = exception or stop. */
static int emulate(struct insn *i, const cs_insn *in)
{
	struct vm *vm = i->vm;
	struct cpu *c = i->c;
	const uint8_t *op = i->op;

	/* Only translated as a callout while CR0.TS or CR0.EM is set (rewriter.c);
	 * SDM Vol. 3, Table 2-2: x87 faults #NM, MMX/SSE #UD under EM, WAIT only
	 * with TS and MP. */
	if (rw_always_ud(i->b, i->npfx, i->len))
		return ud(i);
	if (!(c->cr4 & CR4_OSFXSR) && rw_is_sse(in))
		return ud(i);
	if (rw_is_fpu(op, i->len - i->npfx)) {
		if (op[0] == 0x9b)
			return (c->cr0 & CR0_TS) && (c->cr0 & CR0_MP) ? nm(i) : 0;
		if ((c->cr0 & CR0_EM) && !(op[0] >= 0xd8 && op[0] <= 0xdf))
			return ud(i);
		if (c->cr0 & (CR0_EM | CR0_TS))
			return nm(i);
		/* Translated before the guest cleared TS/EM: run it natively. */
		return unsupported(i, "an FPU instruction callout with CR0.TS and EM clear");
	}

	switch (op[0]) {
	case 0xfa:
	case 0xfb:
		if (!io_allowed(i))
			return gp0(i);
		if (op[0] == 0xfa) {
			c->sh->vif = 0;
		} else if (!cpu_if(c)) {
			c->sh->vif = FL_IF;
			c->intr_shadow = true;
		}
		return 0;
	case 0x9c:
		return stack_push(vm, cpu_eflags(c) & ~(FL_VM | FL_RF), i->o16 ? 2 : 4);
	case 0x9d:
		return do_popf(i);
	case 0xe4 ... 0xe7:
	case 0xec ... 0xef:
		return do_inout(i);
	case 0x6c ... 0x6f:
		return do_string_io(i);
	case 0xcc:      /* INT3 and INTO check the gate's DPL as INT n does; INT1 not */
		intr_soft(vm, VEC_BP, i->next, true);
		return 1;
	case 0xcd:
		intr_soft(vm, op[1], i->next, true);
		return 1;
	case 0xce:
		if (!(c->sh->eflags & FL_OF))
			return 0;
		intr_soft(vm, VEC_OF, i->next, true);
		return 1;
	case 0xf1:
		intr_soft(vm, VEC_DB, i->next, false);
		return 1;
	case 0xf4:
		if (!privileged(i))
			return gp0(i);
		c->sh->eip = i->next;
		if (!cpu_if(c))                /* only NMI or reset would wake it */
			vm_stop(vm, STOP_GUEST_DEAD, 4,
				"guest halted with interrupts disabled at eip %#x", i->next - 1);
		else
			c->halted = true;
		return 1;
	case 0xcf:
		if (do_iret(i) < 0)
			return -1;
		mmu_retry(i->vm);
		return 1;
	case 0xea:
	case 0x9a: {            /* ptr16:32, or ptr16:16 with an operand-size prefix */
		uint32_t off = 0;
		uint16_t sel;
		int n = i->o16 ? 2 : 4;
		memcpy(&off, op + 1, n);
		memcpy(&sel, op + 1 + n, 2);
		if (op[0] == 0xea)
			return far_jump(i, sel, off) < 0 ? -1 : 1;
		return far_call(i, sel, off) < 0 ? -1 : 1;
	}
	case 0xca:
	case 0xcb: {
		uint16_t extra = 0;
		if (op[0] == 0xca)
			memcpy(&extra, op + 1, 2);
		return far_ret(i, extra) < 0 ? -1 : 1;
	}
	case 0xff: {
		uint16_t sel;
		uint32_t off;
		if (i->reg == 2 || i->reg == 4)
			return do_near_branch(i);
		if (i->mod == 3)
			return ud(i);
		if (read_farptr(i, &sel, &off) < 0)
			return -1;
		if (i->reg == 3)
			return far_call(i, sel, off) < 0 ? -1 : 1;
		return far_jump(i, sel, off) < 0 ? -1 : 1;
	}
	case 0x8c:
		if (i->reg > 5)
			return ud(i);
		return rm_write(i, i->mod == 3 && !i->o16 ? 4 : 2, c->seg[i->reg].sel);
	case 0x8e: {
		uint32_t v;
		if (i->reg == SR_CS || i->reg > 5)
			return ud(i);
		if (rm_read(i, 2, &v) < 0 || seg_load(vm, i->reg, (uint16_t)v) < 0)
			return -1;
		c->intr_shadow |= i->reg == SR_SS;
		return 0;
	}
	case 0x06: return do_push_sreg(i, SR_ES);
	case 0x0e: return do_push_sreg(i, SR_CS);
	case 0x16: return do_push_sreg(i, SR_SS);
	case 0x1e: return do_push_sreg(i, SR_DS);
	case 0x07: return do_pop_sreg(i, SR_ES);
	case 0x17:
		if (do_pop_sreg(i, SR_SS) < 0)
			return -1;
		c->intr_shadow = true;
		return 0;
	case 0x1f: return do_pop_sreg(i, SR_DS);
	case 0xc4: return do_lxs(i, SR_ES);
	case 0xc5: return do_lxs(i, SR_DS);
	case 0x0f:
		break;
	case 0x70 ... 0x7f:
	case 0xe0 ... 0xe3:
	case 0xe8 ... 0xe9:
	case 0xeb:
	case 0xc2:
	case 0xc3:
		return do_near_branch(i);
	default:
		return unsupported(i, "this instruction form");
	}

	switch (op[1]) {
	case 0x80 ... 0x8f:
		return do_near_branch(i);
	case 0x00: return group6(i);
	case 0x01: return group7(i);
	case 0x02: return do_lar_lsl(i, false);
	case 0x03: return do_lar_lsl(i, true);
	case 0x06:
		if (!privileged(i))
			return gp0(i);
		c->cr0 &= ~CR0_TS;
		return 0;
	case 0x08:
	case 0x09:
		return privileged(i) ? 0 : gp0(i);
	case 0x20: return mov_cr(i, false);
	case 0x22: return mov_cr(i, true);
	case 0x21: return mov_dr(i, false);
	case 0x23: return mov_dr(i, true);
	case 0x30: return do_msr(i, true);
	case 0x32: return do_msr(i, false);
	case 0x31: {
		if ((c->cr4 & CR4_TSD) && c->cpl)
			return gp0(i);
		uint64_t t = guest_tsc(c);
		REGS(i)[R_EAX] = (uint32_t)t;
		REGS(i)[R_EDX] = (uint32_t)(t >> 32);
		return 0;
	}
	case 0x33: return gp0(i);       /* RDPMC: no counters */
	case 0x34: return do_sysenter(i);
	case 0x35:
		return do_sysexit(i);
	case 0xa2:
		cpuid_emulate(vm, REGS(i));
		return 0;
	case 0xa0: return do_push_sreg(i, SR_FS);
	case 0xa8: return do_push_sreg(i, SR_GS);
	case 0xa1: return do_pop_sreg(i, SR_FS);
	case 0xa9: return do_pop_sreg(i, SR_GS);
	case 0xb2: return do_lxs(i, SR_SS);
	case 0xb4: return do_lxs(i, SR_FS);
	case 0xb5: return do_lxs(i, SR_GS);
	}
	/* SYSCALL/SYSRET (not in a 32-bit CPU's features), UD0/1/2, RSM, GETSEC, VMX,
	 * RDPID, MOV to/from TR: all #UD here. */
	return ud(i);
}

/* Decode the instruction at the guest's EIP into i; NULL if it does not decode. */
static const cs_insn *decode(struct vm *vm, struct insn *i, uint8_t bytes[16], int *truncated)
{
	struct cpu *c = &vm->cpu;
	int glen;
	const cs_insn *in = rw_decode_one(vm->rw, c->sh->eip, bytes, truncated, &glen);
	if (!in)
		return NULL;
	/* 16-bit code comes in its 32-bit form (rw_decode_one): sizes as prefixed. */
	*i = (struct insn){ .vm = vm, .c = c, .x = &in->detail->x86, .b = bytes, .len = in->size,
			    .seg = -1, .next = c->sh->eip + (uint32_t)glen };
	i->npfx = rw_prefix_len(bytes, i->len);
	i->op = bytes + i->npfx;
	for (int k = 0; k < i->npfx; k++) {
		static const int segpfx[256] = { [0x26] = SR_ES + 1, [0x2e] = SR_CS + 1, [0x36] = SR_SS + 1,
						 [0x3e] = SR_DS + 1, [0x64] = SR_FS + 1, [0x65] = SR_GS + 1 };
		uint8_t p = bytes[k];
		if (segpfx[p])
			i->seg = segpfx[p] - 1;
		i->o16 |= p == 0x66;
		i->a16 |= p == 0x67;
		i->rep |= p == 0xf3 || p == 0xf2;
	}
	int mpos = i->op[0] == 0x0f ? 2 : 1;
	if (mpos < i->len - i->npfx) {
		i->modrm = i->op[mpos];
		i->mod = i->modrm >> 6;
		i->reg = (i->modrm >> 3) & 7;
		i->rm = i->modrm & 7;
	}
	return in;
}

static const int capseg[] = {
	[X86_REG_ES] = SR_ES + 1, [X86_REG_CS] = SR_CS + 1, [X86_REG_SS] = SR_SS + 1,
	[X86_REG_DS] = SR_DS + 1, [X86_REG_FS] = SR_FS + 1, [X86_REG_GS] = SR_GS + 1,
};

/* What an instruction's memory accesses are to the monitor's segment shadows. */
struct reach {
	int guest_vec;          /* >= 0: the guest's own segment refuses an operand */
	bool ours;              /* some access cannot run natively: it must be emulated */
	bool wrap_gs;           /* a gs: operand wraps below GS's base */
	bool write;             /* the access that decided it writes */
	uint32_t at;            /* the linear address that decided it */
};

/*
 * Would the instruction in i, with the guest's registers as they are, reach where a
 * shadow segment cuts it off: a wrap around 4 GiB, the top WIN_SIZE bytes, a CPL-3
 * access above the line under the supervisor's pages, or an access through GS's wrap
 * view that does not wrap? vector: the host fault (VEC_SS also counts a stack the
 * host cannot reach, for implicit stack operands), or -1.
 */
static struct reach reach_of(struct vm *vm, struct insn *i, const cs_insn *in, unsigned site,
			     int vector)
{
	struct cpu *c = &vm->cpu;
	struct reach r = { .guest_vec = -1 };
	uint64_t top = GUEST_TOP;
	if (c->cpl == 3 && mmu_user_top(vm) < top)
		top = mmu_user_top(vm);
	for (int k = 0; k < i->x->op_count; k++) {
		const cs_x86_op *m = &i->x->operands[k];
		if (m->type != X86_OP_MEM)
			continue;
		int sr;
		uint32_t ea = (uint32_t)m->mem.disp;
		if (m->mem.base != X86_REG_INVALID)
			ea += capreg(i, m->mem.base);
		if (m->mem.index != X86_REG_INVALID)
			ea += capreg(i, m->mem.index) * (uint32_t)m->mem.scale;
		uint32_t off = i->a16 ? ea & 0xffff : ea;
		if (m->mem.segment != X86_REG_INVALID && m->mem.segment < X86_REG_ENDING &&
		    (size_t)m->mem.segment < sizeof(capseg) / sizeof(capseg[0]) && capseg[m->mem.segment])
			sr = capseg[m->mem.segment] - 1;
		else if (i->seg >= 0)
			sr = i->seg;
		else if (m->mem.base == X86_REG_ESP || m->mem.base == X86_REG_EBP ||
			 m->mem.base == X86_REG_SP || m->mem.base == X86_REG_BP)
			sr = SR_SS;
		else
			sr = SR_DS;
		uint32_t size = m->size ? m->size : 1;
		int v = seg_check(&c->seg[sr], sr, off, size, m->access & CS_AC_WRITE);
		if (v >= 0) {
			r.guest_vec = v;
			return r;
		}
		uint64_t lin = (uint64_t)c->seg[sr].base + off;
		bool cut = lin >= 1ull << 32 || lin + size > top ||
			   (sr == SR_GS && i->seg == SR_GS && rw_gs_wrap_view(in, site));
		r.wrap_gs |= sr == SR_GS && lin >= 1ull << 32;
		if (cut && !r.ours) {
			r.at = (uint32_t)lin;
			r.write = m->access & CS_AC_WRITE;
		}
		r.ours |= cut;
	}
	uint64_t sp = (uint64_t)c->seg[SR_SS].base + c->sh->regs[R_ESP];
	if (!r.ours && vector == VEC_SS && (sp + 16 > top || sp < 16)) {
		/* A stack the host cannot reach (PUSH, CALL, RET...): the emulator checks
		 * the guest's SS itself. */
		r.ours = true;
		r.at = (uint32_t)sp;
	}
	return r;
}

/* Count a run of the learnt site at lin (sites_count), and translate its blocks again
 * if that gave it back to native execution. */
static void site_count(struct vm *vm, struct insn *i, const cs_insn *in, uint32_t lin,
		       unsigned site)
{
	struct reach r = reach_of(vm, i, in, site, VEC_SS);
	if (sites_count(&vm->sites, lin, r.ours)) {
		uint64_t pa;
		vm->stats.sites_returned++;
		if (mmu_peek(vm, lin, PF_ACC_FETCH, &pa) == 0)
			cc_invalidate_page(vm->cc, (uint32_t)(pa >> 12));
	}
}

/*
 * After a learnt site: the next instructions are often learnt sites too (an entry path
 * pushing and popping on a stack at the top of linear space). Run up to SITE_RUN of
 * them here, without a trip through the dispatcher for each; stop at anything else, at
 * an exception, or where memop declines (nothing changed then: the dispatcher takes it).
 * Interrupts wait for the end of the run, a bounded delay as at a block's end.
 */
#define SITE_RUN 32
static void site_run(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	for (int n = 0; n < SITE_RUN && !c->exc.pending && vm->stop == STOP_NONE &&
			!vm->one_step && !c->halted && !(c->sh->vflags & FL_TF); n++) {
		uint32_t lin = c->seg[SR_CS].base + c->sh->eip;
		unsigned site = sites_get(&vm->sites, lin);
		if (!(site & SITE_EMULATE))
			return;
		uint8_t bytes[16];
		int truncated;
		struct insn i;
		const cs_insn *in = decode(vm, &i, bytes, &truncated);
		if (!in)
			return;         /* the dispatcher raises what the fetch found */
		if (vm->cfg.trace)
			fprintf(stderr, "trapeze: site run eip %#x: %s %s\n", c->sh->eip,
				in->mnemonic, in->op_str);
		site_count(vm, &i, in, lin, site);
		if (memop_emulate(vm) <= 0)
			return;
		vm->stats.site_run_insns++;
	}
}

void emulate_callout(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	uint8_t bytes[16];
	int truncated;
	struct insn i;
	const cs_insn *in = decode(vm, &i, bytes, &truncated);
	if (!in) {
		if (truncated >= 0)     /* else the fetch raised #PF */
			exc_raise(vm, truncated ? VEC_GP : VEC_UD, truncated, 0);
		return;
	}
	if (vm->cfg.trace)
		fprintf(stderr, "trapeze: callout eip %#x: %s %s\n", c->sh->eip, in->mnemonic, in->op_str);
	if (in->id < STATS_INSN_IDS)
		vm->stats.callouts[in->id]++;
	/* A site learnt to be emulated (emulate_host_gp) is most likely a plain memory
	 * access: memop first, the sensitive-instruction emulator for the rest. The site
	 * keeps count of whether it still needs the monitor, and is given back to native
	 * execution when it mostly does not (a helper such as memcpy that once touched
	 * the top of linear space). */
	uint32_t lin = c->seg[SR_CS].base + c->sh->eip;
	unsigned site = sites_get(&vm->sites, lin);
	if (site & SITE_EMULATE) {
		site_count(vm, &i, in, lin, site);
		int r = memop_emulate(vm);
		if (r < 0)
			return;
		if (r > 0) {
			site_run(vm);
			return;
		}
		if (rw_is_ident(bytes, i.len)) {
			/* Not what the site was learnt for (other code there now): give it
			 * back and run the instruction natively, translated anew. */
			uint64_t pa;
			sites_give_back(&vm->sites, lin);
			vm->stats.sites_returned++;
			if (mmu_peek(vm, lin, PF_ACC_FETCH, &pa) == 0)
				cc_invalidate_page(vm->cc, (uint32_t)(pa >> 12));
			return;
		}
	}
	if (emulate(&i, in) == 0)
		c->sh->eip = i.next;
}

void emulate_host_gp(struct vm *vm, int vector)
{
	struct cpu *c = &vm->cpu;
	uint8_t bytes[16];
	int truncated;
	struct insn i;
	const cs_insn *in = decode(vm, &i, bytes, &truncated);
	if (!in) {
		if (truncated >= 0)
			exc_raise(vm, vector, true, 0);
		return;
	}
	uint32_t site_lin = c->seg[SR_CS].base + c->sh->eip;
	unsigned site = sites_get(&vm->sites, site_lin);
	struct reach r = reach_of(vm, &i, in, site, vector);
	if (r.guest_vec >= 0) {
		exc_raise(vm, r.guest_vec, true, 0);    /* the guest's own segment says no */
		return;
	}
	if (!r.ours) {
		/* Not a segment matter the monitor made: alignment, or the like. */
		exc_raise(vm, vector, true, 0);
		return;
	}
	/* Learn the site (sites.h), so that its next translation needs no host fault: a
	 * gs: access below GS's base through a register goes through the wrap view (TLS,
	 * most likely again here), anything else becomes a callout. A REP string
	 * instruction only when its string is short: a long one shares its one fault
	 * among many elements. */
	bool learnt;
	if (i.seg == SR_GS && r.wrap_gs && !(site & SITE_GS_WRAP))
		learnt = sites_learn(&vm->sites, site_lin, SITE_GS_WRAP);
	else
		learnt = (!i.rep || c->sh->regs[R_ECX] <= 64) &&
			 sites_learn(&vm->sites, site_lin, SITE_EMULATE);
	if (learnt) {
		uint64_t pa;
		vm->stats.sites_learnt++;
		if (mmu_peek(vm, site_lin, PF_ACC_FETCH, &pa) == 0)
			cc_invalidate_page(vm->cc, (uint32_t)(pa >> 12));
	}
	uint32_t at = r.at;
	int done = memop_emulate(vm);
	if (done == 0 && i.op[0] == 0x9d) {
		/* A POPF that sets TF: memop leaves it to the full emulator. */
		if (emulate(&i, in) == 0)
			c->sh->eip = i.next;
		return;
	}
	if (done == 0 && mmu_paging(vm)) {
		/* An instruction memop does not know (x87, SSE...): the guest's own paging
		 * may still refuse the access (ring 3 reading a supervisor page), and then
		 * its #PF is the answer. */
		uint64_t pa;
		unsigned acc = (r.write ? PF_ACC_WRITE : 0) | (c->cpl == 3 ? PF_ACC_USER : 0);
		if (mmu_translate(vm, at, acc, &pa) < 0)
			return;
	}
	if (done == 0)
		vm_stop(vm, STOP_MONITOR_ERROR, 6,
			"eip %#x: guest access to linear %#x that the monitor must emulate (the top "
			"%u MiB, or above a CPL-3 guest's supervisor pages): %s %s is not supported "
			"yet", c->sh->eip, at, WIN_SIZE >> 20, in->mnemonic, in->op_str);
}
