/*
 * emulate.c - the monitor's half of a callout: emulate one sensitive or privileged
 * instruction against the virtual CPU (the system instructions are in sysinsn.c), and
 * host faults in translated code that the monitor's segment shadows caused.
 *
 * Called with cpu.sh->eip at the instruction, which is decoded again here (decode.h;
 * callouts are rare enough that keeping no decode state in the cache pays). On
 * success EIP moves past it (or to a control transfer's target); on a guest fault an
 * exception is raised with EIP left at the instruction. Semantics from the SDM
 * Vol. 2 pages of each instruction; what trapeze does not emulate (16-bit gates and
 * TSSs, virtual-8086 mode, a return to real mode) stops the VM with a message saying
 * so. An access the host could not serve goes to memop.c first, and is learnt as a
 * site (rewriter/sites.h) so its next translation needs no host fault.
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
#include "kentry.h"
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

void set_zf(struct insn *i, bool z)
{
	if (z)
		i->c->sh->eflags |= FL_ZF;
	else
		i->c->sh->eflags &= ~FL_ZF;
}

enum emu_result gp0(struct insn *i)
{
	exc_raise(i->vm, VEC_GP, true, 0);
	return EMU_FAULT;
}

enum emu_result ud(struct insn *i)
{
	exc_raise(i->vm, VEC_UD, false, 0);
	return EMU_FAULT;
}

static enum emu_result nm(struct insn *i)
{
	exc_raise(i->vm, VEC_NM, false, 0);
	return EMU_FAULT;
}

/* #GP(sel) for a selector's error code (its RPL bits cleared). */
static enum emu_result gp_sel(struct insn *i, uint16_t sel)
{
	exc_raise(i->vm, VEC_GP, true, sel & SEL_ERR_MASK);
	return EMU_FAULT;
}

enum emu_result unsupported(struct insn *i, const char *what)
{
	vm_stop(i->vm, STOP_MONITOR_ERROR, 6, "eip %#x: %s not supported yet", i->c->sh->eip, what);
	return EMU_FAULT;
}

bool privileged(const struct insn *i) { return i->c->cpl == 0; }

static bool io_allowed(const struct insn *i)
{
	return (unsigned)i->c->cpl <= EFLAGS_IOPL(i->c->sh->vflags);
}

/* ---- flags ---- */

static enum emu_result do_popf(struct insn *i)
{
	struct cpu *c = i->c;
	uint32_t v, old = cpu_eflags(c);
	if (stack_pop(i->vm, &v, i->osize) < 0)
		return EMU_FAULT;
	uint32_t mask = popf_mask(i);
	cpu_set_eflags(c, (old & ~mask) | (v & mask));
	return EMU_NEXT;
}

/* CLI, STI: at CPL <= IOPL; STI from IF = 0 holds interrupts off for one more
 * instruction (the interrupt shadow). */
static enum emu_result do_cli_sti(struct insn *i)
{
	struct cpu *c = i->c;
	if (!io_allowed(i))
		return gp0(i);
	if (i->op[0] == 0xfa) {
		c->sh->vif = 0;
	} else if (!cpu_if(c)) {
		c->sh->vif = FL_IF;
		c->intr_shadow = true;
	}
	return EMU_NEXT;
}

/* ---- I/O ---- */

static int io_size(const struct insn *i)
{
	return (i->op[0] & 1) ? i->osize : 1;
}

static enum emu_result do_inout(struct insn *i)
{
	int size = io_size(i);
	uint16_t port = (i->op[0] & 8) ? (uint16_t)REGS(i)[R_EDX] : i->op[1];
	if (!io_permitted(i->vm, port, size))
		return gp0(i);
	if ((i->op[0] & 2) == 0)
		gpr_write(i, R_EAX, size, io_in(i->vm->io, port, size));
	else
		io_out(i->vm->io, port, size, gpr_read(i, R_EAX, size));
	if (i->vm->dbg.io)
		dbg_io(i->vm, port, size);
	return EMU_NEXT;
}

/* Elements one REP INS/OUTS callout moves before it lets the dispatcher look at
 * signals and interrupts; the instruction then resumes, as REP string instructions
 * do after an interrupt (SDM Vol. 2, REP). */
#define REP_IO_BATCH 4096

/* How many elements of a REP INS/OUTS at off move as one run: with DF clear, as many
 * as ECX, the batch (n done so far), the page and the segment allow; 1 otherwise.
 * A run's memory is one segment check and one page, so a fault still comes at its
 * first element. */
static uint32_t io_run(const struct insn *i, int sr, uint32_t off, int size, int n, bool out)
{
	uint32_t amask = i->a16 ? 0xffff : 0xffffffff;
	if (!i->rep || (i->c->sh->eflags & FL_DF))
		return 1;
	uint32_t lin = i->c->seg[sr].base + off;
	uint32_t k = (4096 - (lin & 0xfff)) / (uint32_t)size;
	uint32_t left = REGS(i)[R_ECX] & amask, room = (amask - off) / (uint32_t)size + 1;
	k = k < left ? k : left;
	k = k < room ? k : room;
	k = k < (uint32_t)(REP_IO_BATCH - n) ? k : (uint32_t)(REP_IO_BATCH - n);
	if (k < 2 || seg_check(&i->c->seg[sr], sr, off, k * (uint32_t)size, !out) >= 0)
		return 1;
	return k;
}

/* INS/OUTS, REP or not (SDM Vol. 2, INS, OUTS): element by element at the port; a REP
 * run's memory moves in one access (io_run). A fault comes before any element of its
 * run moved (for INS the run's page is translated for writing before the port is
 * read), so ECX/ESI/EDI are right for the restart, as on the CPU. EMU_JUMPED when a
 * batch ends with ECX left: EIP stays at the instruction. */
static enum emu_result do_string_io(struct insn *i)
{
	int size = io_size(i);
	bool out = i->op[0] & 2;
	uint16_t port = (uint16_t)REGS(i)[R_EDX];
	if (!io_permitted(i->vm, port, size))
		return gp0(i);
	/* With breakpoints armed, one element at a time, and the instruction stops after
	 * the first that met one: an I/O breakpoint traps after the first iteration, a
	 * memory one after the iteration that met it (SDM Vol. 3, 18.3.1.2). */
	bool exact = i->vm->dbg.io || i->vm->dbg.nwatch;
	if (i->vm->dbg.io)
		dbg_io(i->vm, port, size);
	int idx = out ? R_ESI : R_EDI, sr = out ? (i->seg >= 0 ? i->seg : SR_DS) : SR_ES;
	int32_t step = (i->c->sh->eflags & FL_DF) ? -size : size;
	uint32_t amask = i->a16 ? 0xffff : 0xffffffff;
	uint8_t buf[4096];
	for (int n = 0;;) {
		if (i->rep && (REGS(i)[R_ECX] & amask) == 0)
			break;
		if (n == REP_IO_BATCH)
			return EMU_JUMPED;
		if (exact && n > 0 && i->vm->dbg.hits) {
			dbg_rep_iteration(i->vm);
			return EMU_JUMPED;
		}
		uint32_t off = REGS(i)[idx] & amask, k = exact ? 1 : io_run(i, sr, off, size, n, out);
		uint32_t len = k * (uint32_t)size;
		if (out) {
			if (seg_read(i->vm, sr, off, buf, len) < 0)
				return EMU_FAULT;
			for (uint32_t e = 0; e < k; e++) {
				uint32_t v = 0;
				memcpy(&v, buf + e * (uint32_t)size, (size_t)size);
				io_out(i->vm->io, port, size, v);
			}
		} else {
			uint64_t pa;
			unsigned acc = PF_ACC_WRITE | (i->c->cpl == 3 ? PF_ACC_USER : 0);
			if (k > 1 && mmu_translate(i->vm->mmu, i->c->seg[sr].base + off, acc, &pa) < 0)
				return EMU_FAULT;
			for (uint32_t e = 0; e < k; e++) {
				uint32_t v = io_in(i->vm->io, port, size);
				memcpy(buf + e * (uint32_t)size, &v, (size_t)size);
			}
			if (seg_write(i->vm, sr, off, buf, len) < 0)
				return EMU_FAULT;
		}
		REGS(i)[idx] = (REGS(i)[idx] & ~amask) | ((off + (uint32_t)step * k) & amask);
		n += (int)k;
		if (!i->rep)
			break;
		REGS(i)[R_ECX] = (REGS(i)[R_ECX] & ~amask) | ((REGS(i)[R_ECX] - k) & amask);
		if (i->vm->stop != STOP_NONE)
			break;
	}
	return EMU_NEXT;
}

/* ---- control transfers ---- */

static int32_t rel_operand(const struct insn *i, const uint8_t *p)
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
 */
static enum emu_result do_near_branch(struct insn *i)
{
	const uint8_t *op = i->op;
	struct cpu *c = i->c;
	uint32_t fl = c->sh->eflags, esp = REGS(i)[R_ESP], target = 0;
	int size = i->osize, asz = i->a16 ? 2 : 4;
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
			return EMU_FAULT;
		break;
	case 0xff:
		call = i->reg == 2;
		if (rm_read(i, size, &target) < 0)
			return EMU_FAULT;
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
			return EMU_FAULT;
		c->sh->eip = target;
	}
	if (loop)
		gpr_write(i, R_ECX, asz, count);
	stack_adjust(i->vm, extra);
	return taken ? EMU_JUMPED : EMU_NEXT;
}

/* The system descriptor sel names (S clear): its type (DESC_*), or -1 for anything
 * else. */
static int system_desc(struct insn *i, uint16_t sel, uint64_t *d)
{
	if (sel_is_null(sel) || !desc_fetch(i->vm, sel, d, NULL) || !desc_is_system(*d))
		return -1;
	return (int)DESC_TYPE(*d);
}

/* Far JMP/CALL to a TSS or through a task gate (SDM Vol. 3, 7.3): DPL checks, then
 * the switch. */
static enum emu_result far_to_task(struct insn *i, uint16_t sel, uint64_t d, int type, bool call)
{
	unsigned dpl = DESC_DPL(d);
	if (dpl < (unsigned)i->c->cpl || dpl < SEL_RPL(sel))
		return gp_sel(i, sel);
	if (!desc_present(d)) {
		exc_raise(i->vm, VEC_NP, true, sel & SEL_ERR_MASK);
		return EMU_FAULT;
	}
	uint16_t tss = type == DESC_TASK_GATE ? GATE_SEL(d) : sel;
	if (task_switch(i->vm, tss, call ? TASK_CALL : TASK_JMP, i->next, false, 0) < 0)
		return EMU_FAULT;
	return EMU_JUMPED;
}

/* A far JMP or CALL to a gate or TSS; EMU_NOT_MINE if sel is none of those. */
static enum emu_result far_system(struct insn *i, uint16_t sel, bool call)
{
	uint64_t d;
	int type = system_desc(i, sel, &d);
	if (type == DESC_CALL_GATE16 || type == DESC_CALL_GATE32)
		return far_via_call_gate(i->vm, sel, d, call, i->next) < 0 ? EMU_FAULT : EMU_JUMPED;
	if (type == DESC_TASK_GATE || type == DESC_TSS32_AVAIL)
		return far_to_task(i, sel, d, type, call);
	return EMU_NOT_MINE;
}

static enum emu_result far_jump(struct insn *i, uint16_t sel, uint32_t off)
{
	enum emu_result r = far_system(i, sel, false);
	if (r != EMU_NOT_MINE)
		return r;
	return seg_load_cs(i->vm, sel, off) < 0 ? EMU_FAULT : EMU_JUMPED;
}

static enum emu_result far_call(struct insn *i, uint16_t sel, uint32_t off)
{
	struct cpu *c = i->c;
	enum emu_result r = far_system(i, sel, true);
	if (r != EMU_NOT_MINE)
		return r;
	uint32_t esp = REGS(i)[R_ESP];
	uint16_t old_cs = c->seg[SR_CS].sel;
	/* The target is checked before anything is pushed (SDM Vol. 2, CALL: the #GP,
	 * #NP of the new CS come first), so a fault leaves the stack's memory untouched;
	 * a push that faults leaves CS as it was. */
	struct cs_load l;
	if (seg_check_cs(i->vm, sel, off, &l) < 0)
		return EMU_FAULT;
	if (stack_push(i->vm, old_cs, i->osize) < 0 || stack_push(i->vm, i->next, i->osize) < 0) {
		REGS(i)[R_ESP] = esp;
		return EMU_FAULT;
	}
	seg_commit_cs(i->vm, &l);
	return EMU_JUMPED;
}

/*
 * A return (RET far, IRET) to an outer level (SDM Vol. 2, RET "RETURN-TO-OUTER-
 * PRIVILEGE-LEVEL", IRET "RETURN-OUTER-PRIVILEGE-LEVEL"). ESP points past the popped
 * CS (and EFLAGS); extra: RET n's byte count, released on both stacks. On success the
 * CPL is the RPL of sel, SS:ESP popped, and fl (IRET) still to be applied by the caller
 * with the old CPL's rules, which it read before. 0, or -1 with an exception raised.
 */
static int outer_return(struct insn *i, uint16_t sel, uint32_t eip, uint16_t extra,
			uint32_t esp0)
{
	struct vm *vm = i->vm;
	struct cpu *c = i->c;
	uint64_t d;
	if (sel_is_null(sel)) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	if (!desc_fetch(vm, sel, &d, NULL)) {
		gp_sel(i, sel);
		return -1;
	}
	struct seg cs;
	seg_from_desc(&cs, sel, d);
	/* The return CS: a code segment, DPL = RPL unless conforming (then DPL <= RPL). */
	unsigned dpl = SEG_DPL(cs.attr), rpl = SEL_RPL(sel);
	if (seg_is_system(cs.attr) || !seg_is_code(cs.attr) ||
	    (seg_is_conforming(cs.attr) ? dpl > rpl : dpl != rpl)) {
		gp_sel(i, sel);
		return -1;
	}
	if (!seg_present(cs.attr)) {
		exc_raise(vm, VEC_NP, true, sel & SEL_ERR_MASK);
		return -1;
	}
	uint32_t nesp = 0, nss = 0;
	stack_adjust(vm, extra);
	if (stack_pop(vm, &nesp, i->osize) < 0 || stack_pop(vm, &nss, i->osize) < 0)
		return -1;
	struct seg ss;
	if (stack_seg_check(vm, (uint16_t)nss, (int)rpl, &ss, VEC_GP, 0) < 0)
		return -1;
	if (eip > cs.limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	cs.attr |= SEG_ACCESSED;
	/* A 16-bit outer stack takes SP alone: ESP[31:16] keep what they were before the
	 * return (SDM Vol. 2, IRET and RET: SP <- tempSP; the reason Linux has espfix32). */
	if (!(ss.attr & SEG_DB))
		nesp = (esp0 & ~0xffffu) | (nesp & 0xffff);
	else if (i->o16)
		nesp |= c->sh->regs[R_ESP] & ~0xffffu;
	priv_switch(vm, &cs, (int)rpl, &ss, nesp);
	stack_adjust(vm, extra);
	c->sh->eip = eip;
	priv_drop_data_segs(vm);
	return 0;
}

/* Back to CS:EIP popped by a far return or IRET (ESP past them, restored by the
 * caller on a fault; esp0 before them): to an outer level, or the same one; RPL < CPL
 * is #GP(sel) (SDM Vol. 2, RET and IRET). 0, or -1 with an exception raised. */
static int return_to(struct insn *i, uint32_t cs, uint32_t eip, uint16_t extra, uint32_t esp0)
{
	unsigned cpl = (unsigned)i->c->cpl;
	if (SEL_RPL(cs) > cpl)
		return outer_return(i, (uint16_t)cs, eip, extra, esp0);
	if (SEL_RPL(cs) < cpl) {
		gp_sel(i, (uint16_t)cs);
		return -1;
	}
	if (seg_load_cs(i->vm, (uint16_t)cs, eip) < 0)
		return -1;
	stack_adjust(i->vm, extra);
	return 0;
}

/* RET far [imm16] (CA, CB). */
static enum emu_result far_ret(struct insn *i)
{
	uint32_t esp = REGS(i)[R_ESP], eip, cs;
	uint16_t extra = 0;
	if (i->op[0] == 0xca)
		memcpy(&extra, i->op + 1, 2);
	if (stack_pop(i->vm, &eip, i->osize) < 0 || stack_pop(i->vm, &cs, i->osize) < 0 ||
	    return_to(i, cs, eip, extra, esp) < 0) {
		REGS(i)[R_ESP] = esp;
		return EMU_FAULT;
	}
	return EMU_JUMPED;
}

static enum emu_result do_iret(struct insn *i)
{
	struct cpu *c = i->c;
	uint32_t esp = REGS(i)[R_ESP], eip, cs, fl;
	int from = c->cpl;
	c->nmi_blocked = false;         /* "until the next IRET" (SDM Vol. 3, 6.7.1) */
	if (c->sh->vflags & FL_NT)
		return task_return(i->vm, i->next) < 0 ? EMU_FAULT : EMU_JUMPED;
	if (stack_pop(i->vm, &eip, i->osize) < 0 || stack_pop(i->vm, &cs, i->osize) < 0 ||
	    stack_pop(i->vm, &fl, i->osize) < 0) {
		REGS(i)[R_ESP] = esp;
		return EMU_FAULT;
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
	if ((unsigned)c->cpl <= EFLAGS_IOPL(old))
		mask |= FL_IF;
	if (return_to(i, cs, eip, 0, esp) < 0) {
		REGS(i)[R_ESP] = esp;
		return EMU_FAULT;
	}
	if (i->o16)
		mask &= 0xffff;
	cpu_set_eflags(c, (old & ~mask) | (fl & mask));
	if (from == 0 && c->cpl == 3 && !i->o16)
		kentry_want_iret(i->vm);        /* the next ones may run in line */
	return EMU_JUMPED;
}

/* Read a far pointer m16:32 (or m16:16) at the memory operand: offset, then selector.
 * 0, or -1 with an exception raised. */
static int read_farptr(struct insn *i, uint16_t *sel, uint32_t *off)
{
	struct mref m = insn_ea(i);
	uint32_t o, s;
	if (mref_read(i, m, i->osize, &o) < 0)
		return -1;
	m.off += (uint32_t)i->osize;
	if (mref_read(i, m, 2, &s) < 0)
		return -1;
	*off = o;
	*sel = (uint16_t)s;
	return 0;
}

/* JMP/CALL ptr16:32 (EA, 9A; ptr16:16 with an operand-size prefix). */
static enum emu_result far_direct(struct insn *i)
{
	uint32_t off = 0;
	uint16_t sel;
	memcpy(&off, i->op + 1, (size_t)i->osize);
	memcpy(&sel, i->op + 1 + i->osize, 2);
	return i->op[0] == 0xea ? far_jump(i, sel, off) : far_call(i, sel, off);
}

/* FF /2../5: near CALL and JMP through r/m, far CALL and JMP through m16:32. */
static enum emu_result group5(struct insn *i)
{
	uint16_t sel;
	uint32_t off;
	if (i->reg == 2 || i->reg == 4)
		return do_near_branch(i);
	if (i->mod == 3)
		return ud(i);
	if (read_farptr(i, &sel, &off) < 0)
		return EMU_FAULT;
	return i->reg == 3 ? far_call(i, sel, off) : far_jump(i, sel, off);
}

/* ---- segment registers ---- */

static enum emu_result do_push_sreg(struct insn *i, int sr)
{
	return emu_done(stack_push(i->vm, i->c->seg[sr].sel, i->osize));
}

/* POP sreg; POP SS holds interrupts off for the next instruction. */
static enum emu_result do_pop_sreg(struct insn *i, int sr)
{
	uint32_t esp = REGS(i)[R_ESP], v;
	if (stack_pop(i->vm, &v, i->osize) < 0)
		return EMU_FAULT;
	if (seg_load(i->vm, sr, (uint16_t)v) < 0) {
		REGS(i)[R_ESP] = esp;
		return EMU_FAULT;
	}
	i->c->intr_shadow |= sr == SR_SS;
	i->vm->dbg.ss_shadow |= sr == SR_SS;   /* and the single-step trap (SDM Vol. 3, 6.8.3) */
	i->vm->dbg.ss_block |= sr == SR_SS;
	return EMU_NEXT;
}

/* MOV r/m, sreg (8C: a 32-bit register gets the selector zero-extended) and
 * MOV sreg, r/m (8E; MOV SS holds interrupts off for the next instruction). */
static enum emu_result mov_sreg(struct insn *i)
{
	uint32_t v;
	if (i->op[0] == 0x8c) {
		if (i->reg >= SR_COUNT)
			return ud(i);
		return emu_done(rm_write(i, i->mod == 3 && !i->o16 ? 4 : 2, i->c->seg[i->reg].sel));
	}
	if (i->reg == SR_CS || i->reg >= SR_COUNT)
		return ud(i);
	if (rm_read(i, 2, &v) < 0 || seg_load(i->vm, i->reg, (uint16_t)v) < 0)
		return EMU_FAULT;
	i->c->intr_shadow |= i->reg == SR_SS;
	i->vm->dbg.ss_shadow |= i->reg == SR_SS;
	i->vm->dbg.ss_block |= i->reg == SR_SS;
	return EMU_NEXT;
}

/* LDS/LES/LFS/LGS/LSS r, m16:32 */
static enum emu_result do_lxs(struct insn *i, int sr)
{
	uint16_t sel;
	uint32_t off;
	if (i->mod == 3)
		return ud(i);
	if (read_farptr(i, &sel, &off) < 0 || seg_load(i->vm, sr, sel) < 0)
		return EMU_FAULT;
	gpr_write(i, i->reg, i->osize, off);
	return EMU_NEXT;
}

/* ---- interrupts, HLT ---- */

/* INT3, INT n, INTO, INT1: INT3 and INTO check the gate's DPL as INT n does, INT1
 * does not. */
static enum emu_result do_int(struct insn *i)
{
	switch (i->op[0]) {
	case 0xcc:
		intr_soft(i->vm, VEC_BP, i->next, true);
		break;
	case 0xcd: {
		int cpl = i->c->cpl;
		intr_soft(i->vm, i->op[1], i->next, true);
		if (cpl == 3 && i->c->cpl == 0 && !i->c->exc.pending)
			kentry_want_int(i->vm, i->op[1]);   /* the next ones may run in line */
		break;
	}
	case 0xce:
		if (!(i->c->sh->eflags & FL_OF))
			return EMU_NEXT;
		intr_soft(i->vm, VEC_OF, i->next, true);
		break;
	default:
		intr_soft(i->vm, VEC_DB, i->next, false);
		break;
	}
	return EMU_JUMPED;
}

static enum emu_result do_hlt(struct insn *i)
{
	struct cpu *c = i->c;
	if (!privileged(i))
		return gp0(i);
	c->sh->eip = i->next;
	if (!cpu_if(c))                /* only NMI or reset would wake it */
		vm_stop(i->vm, STOP_GUEST_DEAD, 4,
			"guest halted with interrupts disabled at eip %#x", i->next - 1);
	else
		c->halted = true;
	return EMU_JUMPED;
}

/* ---- dispatch ---- */

/*
 * x87, MMX, SSE and the features the virtual CPU lacks. Only translated as a callout
 * while CR0.TS or CR0.EM is set (rewriter.c); SDM Vol. 3, Table 2-2: x87 faults #NM,
 * MMX/SSE #UD under EM, WAIT only with TS and MP. EMU_NOT_MINE for anything else.
 */
static enum emu_result fpu_or_ud(struct insn *i)
{
	int vec = insn_unavailable(i);
	if (vec == VEC_UD)
		return ud(i);
	if (vec == VEC_NM)
		return nm(i);
	if (!rw_is_fpu(i->op, i->len - i->npfx))
		return EMU_NOT_MINE;
	if (i->op[0] == 0x9b)
		return EMU_NEXT;
	/* Translated before the guest cleared TS/EM: run it natively. */
	return unsupported(i, "an FPU instruction callout with CR0.TS and EM clear");
}

static enum emu_result onebyte(struct insn *i)
{
	struct vm *vm = i->vm;
	struct cpu *c = i->c;
	enum emu_result r;
	switch (i->op[0]) {
	case 0xfa:
	case 0xfb:
		return do_cli_sti(i);
	case 0x9c:
		return emu_done(stack_push(vm, cpu_eflags(c) & ~(FL_VM | FL_RF), i->osize));
	case 0x9d:
		return do_popf(i);
	case 0xe4 ... 0xe7:
	case 0xec ... 0xef:
		return do_inout(i);
	case 0x6c ... 0x6f:
		return do_string_io(i);
	case 0xcc ... 0xce:
	case 0xf1:
		return do_int(i);
	case 0xf4:
		return do_hlt(i);
	case 0xcf:
		r = do_iret(i);
		if (r != EMU_FAULT)
			mmu_retry(vm->mmu);  /* back to an instruction whose page the handler mapped */
		return r;
	case 0xea:
	case 0x9a:
		return far_direct(i);
	case 0xca:
	case 0xcb:
		return far_ret(i);
	case 0xff:
		return group5(i);
	case 0x8c:
	case 0x8e:
		return mov_sreg(i);
	case 0x06: case 0x0e: case 0x16: case 0x1e:
		return do_push_sreg(i, i->op[0] >> 3);
	case 0x07: case 0x17: case 0x1f:
		return do_pop_sreg(i, i->op[0] >> 3);
	case 0xc4: return do_lxs(i, SR_ES);
	case 0xc5: return do_lxs(i, SR_DS);
	case 0x70 ... 0x7f:
	case 0xe0 ... 0xe3:
	case 0xe8 ... 0xe9:
	case 0xeb:
	case 0xc2:
	case 0xc3:
		return do_near_branch(i);
	}
	return unsupported(i, "this instruction form");
}

static enum emu_result twobyte(struct insn *i)
{
	struct cpu *c = i->c;
	switch (i->op[1]) {
	case 0x80 ... 0x8f:
		return do_near_branch(i);
	case 0x00: return group6(i);
	case 0x01: return group7(i);
	case 0x02: return do_lar_lsl(i, false);
	case 0x03: return do_lar_lsl(i, true);
	case 0x06:                              /* CLTS */
		if (!privileged(i))
			return gp0(i);
		c->cr0 &= ~CR0_TS;
		return EMU_NEXT;
	case 0x08:                              /* INVD, WBINVD: no caches to speak of */
	case 0x09:
		return privileged(i) ? EMU_NEXT : gp0(i);
	case 0x20: return mov_cr(i, false);
	case 0x22: return mov_cr(i, true);
	case 0x21: return mov_dr(i, false);
	case 0x23: return mov_dr(i, true);
	case 0x30: return do_msr(i, true);
	case 0x32: return do_msr(i, false);
	case 0x31: {                            /* RDTSC */
		if ((c->cr4 & CR4_TSD) && c->cpl)
			return gp0(i);
		uint64_t t = guest_tsc(c);
		REGS(i)[R_EAX] = (uint32_t)t;
		REGS(i)[R_EDX] = (uint32_t)(t >> 32);
		return EMU_NEXT;
	}
	case 0x33: return gp0(i);       /* RDPMC: no counters */
	case 0x34: return do_sysenter(i);
	case 0x35: return do_sysexit(i);
	case 0xa2:
		cpuid_emulate(i->vm, REGS(i));
		return EMU_NEXT;
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

/* Emulate the decoded instruction i; EIP still at it. */
static enum emu_result emulate(struct insn *i)
{
	enum emu_result r = fpu_or_ud(i);
	if (r != EMU_NOT_MINE)
		return r;
	return i->op[0] == 0x0f ? twobyte(i) : onebyte(i);
}

/* ---- learnt sites, and host faults the shadows caused ---- */

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

/* Add the access of size bytes at ea (write: a store) to r. False once the guest's own
 * segment refuses one (r->guest_vec). */
static bool reach_add(struct vm *vm, const struct insn *i, unsigned site, uint64_t top,
		      struct mref ea, uint32_t size, bool write, struct reach *r)
{
	struct cpu *c = &vm->cpu;
	int v = seg_check(&c->seg[ea.sr], ea.sr, ea.off, size, write);
	if (v >= 0) {
		r->guest_vec = v;
		return false;
	}
	uint64_t lin = (uint64_t)c->seg[ea.sr].base + ea.off;
	/* An expand-down data segment's shadow accepts only offsets that wrap around
	 * 4 GiB (segments.c, host_desc): any other offset its guest allows is ours. */
	const struct seg *s = &c->seg[ea.sr];
	bool down = !seg_is_code(s->attr) && seg_is_expand_down(s->attr);
	bool cut = lin >= 1ull << 32 || lin + size > top || down ||
		   (ea.sr == SR_GS && i->seg == SR_GS && rw_gs_wrap_view(i->cs, site));
	r->wrap_gs |= ea.sr == SR_GS && lin >= 1ull << 32;
	if (cut && !r->ours) {
		r->at = (uint32_t)lin;
		r->write = write;
	}
	r->ours |= cut;
	return true;
}

/*
 * Would the instruction in i, with the guest's registers as they are, reach where a
 * shadow segment cuts it off: a wrap around 4 GiB, the top WIN_SIZE bytes, a CPL-3
 * access above the line under the supervisor's pages, or an access through GS's wrap
 * view that does not wrap? vector: the host fault (VEC_SS also counts a stack the
 * host cannot reach, for implicit stack operands), or -1. The addresses are the
 * ones the CPU uses, and so are the sizes: Capstone's operands (sized by
 * insn_op_size, as memop_native runs them), a register-offset BT's at the operand that
 * holds the bit, and the implicit ones Capstone does not list (XLAT's [EBX + AL],
 * MASKMOVDQU's [EDI], LEAVE's pop at [EBP]).
 */
static struct reach reach_of(struct vm *vm, const struct insn *i, unsigned site, int vector)
{
	struct cpu *c = &vm->cpu;
	struct reach r = { .guest_vec = -1 };
	uint64_t top = GUEST_TOP;
	if (c->cpl == 3 && mmu_user_top(vm->mmu) < top)
		top = mmu_user_top(vm->mmu);
	for (int k = 0; k < i->x->op_count; k++) {
		const cs_x86_op *m = &i->x->operands[k];
		if (m->type != X86_OP_MEM)
			continue;
		/* Capstone names the segment of an implicit operand (ES:[EDI]). */
		struct mref ea = insn_op_ea(i, m);
		if (m->mem.segment != X86_REG_INVALID && m->mem.segment < X86_REG_ENDING &&
		    (size_t)m->mem.segment < sizeof(capseg) / sizeof(capseg[0]) && capseg[m->mem.segment])
			ea.sr = capseg[m->mem.segment] - 1;
		ea.off += insn_bit_disp(i);
		if (!reach_add(vm, i, site, top, ea, insn_op_size(i, m), m->access & CS_AC_WRITE, &r))
			return r;
	}
	uint64_t sp = (uint64_t)c->seg[SR_SS].base + c->sh->regs[R_ESP];
	if (i->op[0] == 0xd7 || (i->op[0] == 0x0f && i->op[1] == 0xf7)) {
		/* XLAT reads [EBX + AL]; MASKMOVQ/MASKMOVDQU (66) store at [EDI]. */
		bool xlat = i->op[0] == 0xd7;
		struct mref ea = { .sr = i->seg >= 0 ? i->seg : SR_DS,
				   .off = xlat ? i->regs[R_EBX] + (i->regs[R_EAX] & 0xff) :
						 i->regs[R_EDI] };
		if (i->a16)
			ea.off &= 0xffff;
		if (!reach_add(vm, i, site, top, ea, xlat ? 1 : i->o16 ? 16 : 8, !xlat, &r))
			return r;
	} else if (i->op[0] == 0xc9) {
		/* LEAVE pops where EBP points (BP on a 16-bit stack). */
		bool big = c->seg[SR_SS].attr & SEG_DB;
		uint32_t bp = big ? i->regs[R_EBP] : i->regs[R_EBP] & 0xffff;
		if (!reach_add(vm, i, site, top, (struct mref){ .sr = SR_SS, .off = bp },
			       (uint32_t)i->osize, false, &r))
			return r;
		sp = (uint64_t)c->seg[SR_SS].base + bp;
	}
	if (!r.ours && vector == VEC_SS && (sp + 16 > top || sp < 16)) {
		/* A stack the host cannot reach (PUSH, CALL, RET...): the emulator checks
		 * the guest's SS itself. */
		r.ours = true;
		r.at = (uint32_t)sp;
	}
	return r;
}

/* The site at lin was learnt or given back: translate its page's blocks again. */
static void site_retranslate(struct vm *vm, uint32_t lin)
{
	uint64_t pa;
	if (mmu_peek(vm->mmu, lin, PF_ACC_FETCH, &pa) == 0)
		cc_invalidate_page(vm->cc, (uint32_t)(pa >> 12));
}

/* Count a run of the learnt site at lin (sites_count), and translate its blocks again
 * if that gave it back to native execution. */
static void site_count(struct vm *vm, const struct insn *i, uint32_t lin, unsigned site)
{
	struct reach r = reach_of(vm, i, site, VEC_SS);
	if (sites_count(&vm->sites, lin, r.ours)) {
		vm->stats.sites_returned++;
		site_retranslate(vm, lin);
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
			!vm->one_step && !c->halted && !(c->sh->vflags & FL_TF) &&
			!vm->dbg.armed && !vm->dbg.host_step; n++) {
		uint32_t lin = c->seg[SR_CS].base + c->sh->eip;
		unsigned site = sites_get(&vm->sites, lin);
		if (!(site & SITE_EMULATE))
			return;
		struct insn i;
		if (insn_decode(vm, &i) != 0)
			return;         /* the dispatcher raises what the fetch found */
		if (vm->cfg.trace)
			fprintf(stderr, "trapeze: site run eip %#x: %s %s\n", c->sh->eip,
				i.cs->mnemonic, i.cs->op_str);
		site_count(vm, &i, lin, site);
		if (memop_run(&i) <= EMU_NOT_MINE)
			return;
		vm->stats.site_run_insns++;
	}
}

/*
 * A site learnt to be emulated (emulate_host_gp) is most likely a plain memory access:
 * memop first. The site keeps count of whether it still needs the monitor, and is
 * given back to native execution when it mostly does not (a helper such as memcpy
 * that once touched the top of linear space). True if the callout is done with.
 */
static bool site_callout(struct vm *vm, struct insn *i, uint32_t lin, unsigned site)
{
	site_count(vm, i, lin, site);
	enum emu_result r = memop_run(i);
	if (r == EMU_FAULT)
		return true;
	if (r != EMU_NOT_MINE) {
		site_run(vm);
		return true;
	}
	if (!rw_is_ident(i->b, i->len))
		return false;
	/* Not what the site was learnt for (other code there now): give it back and run
	 * the instruction natively, translated anew. */
	sites_give_back(&vm->sites, lin);
	vm->stats.sites_returned++;
	site_retranslate(vm, lin);
	return true;
}

static void site_retranslate(struct vm *vm, uint32_t lin);

/*
 * The callout of a block cut by an absent page (rewriter.c: its last instruction runs
 * into the next page, which was absent; the block is good only while it is), and the
 * fetch found the page there: the guest's #PF handler mapped it and went back to the
 * block through an in-line IRET or a chain, not through a lookup, which would have
 * refused it. Whatever the instruction, it is not the emulator's (an ordinary one
 * would stop the VM, a two-byte one raise #UD): the page's blocks go, and the
 * instruction runs where it is translated again. Twice at one place with no block run
 * between (engine_bt.c clears the mark) is a monitor bug, and stops the VM: the
 * emulator is no place for the instruction.
 */
static bool stale_cut(struct vm *vm, const struct insn *i, uint32_t lin)
{
	if ((lin & 0xfff) + (uint32_t)i->len <= 0x1000)
		return false;
	if (vm->cut_retry == lin + 1) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "eip %#x: translated again while its next page "
			"was there, and cut off again", i->c->sh->eip);
		return true;
	}
	vm->cut_retry = lin + 1;
	vm->stats.cut_retranslations++;
	site_retranslate(vm, lin);
	return true;
}

/*
 * A load of CR3 the rewriter recognised (CALLOUT_CR3): what mov_cr does for it, without
 * fetching and decoding the instruction again (~250 cycles of each guest context
 * switch). At CPL 0 only; anything else (#GP at CPL 3, --trace) takes the general way.
 */
static bool cr3_callout(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	if (!(vm->callout_info & CALLOUT_CR3) || c->cpl != 0 || vm->cfg.trace)
		return false;
	uint32_t v = c->sh->regs[(vm->callout_info >> CALLOUT_REG_SHIFT) & 7];
	vm->stats.callouts[X86_INS_MOV]++;
	vm->stats.cr_writes[3]++;
	if (mmu_load_cr3(vm->mmu, v) < 0)
		exc_raise(vm, VEC_GP, true, 0); /* a bad PDPTE (SDM Vol. 3, 4.4.1) */
	else
		c->sh->eip += 3;
	return true;
}

void emulate_callout(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	struct insn i;
	if (cr3_callout(vm))
		return;
	int bad = insn_decode(vm, &i);
	if (bad) {
		if (bad > 0)            /* else the fetch raised #PF */
			exc_raise(vm, bad, bad == VEC_GP, 0);
		return;
	}
	if (vm->cfg.trace)
		fprintf(stderr, "trapeze: callout eip %#x: %s %s\n", c->sh->eip, i.cs->mnemonic,
			i.cs->op_str);
	if (i.cs->id < STATS_INSN_IDS)
		vm->stats.callouts[i.cs->id]++;
	uint32_t lin = c->seg[SR_CS].base + c->sh->eip;
	if ((vm->callout_info & CALLOUT_CUT) && stale_cut(vm, &i, lin))
		return;
	unsigned site = sites_get(&vm->sites, lin);
	if ((site & SITE_EMULATE) && site_callout(vm, &i, lin, site))
		return;
	emu_commit(&i, emulate(&i));
}

/* Learn the site (sites.h), so that its next translation needs no host fault: a gs:
 * access below GS's base through a register goes through the wrap view (TLS, most
 * likely again here), anything else becomes a callout. A REP string instruction only
 * when its string is short: a long one shares its one fault among many elements. */
static void site_learn(struct vm *vm, const struct insn *i, uint32_t lin, unsigned site,
		       const struct reach *r)
{
	bool learnt;
	if (i->seg == SR_GS && r->wrap_gs && !(site & SITE_GS_WRAP))
		learnt = sites_learn(&vm->sites, lin, SITE_GS_WRAP);
	else
		learnt = (!i->rep || i->regs[R_ECX] <= 64) && sites_learn(&vm->sites, lin, SITE_EMULATE);
	if (learnt) {
		vm->stats.sites_learnt++;
		site_retranslate(vm, lin);
	}
}

void emulate_host_gp(struct vm *vm, int vector)
{
	struct cpu *c = &vm->cpu;
	struct insn i;
	int bad = insn_decode(vm, &i);
	if (bad) {
		if (bad > 0)
			exc_raise(vm, vector, true, 0);
		return;
	}
	uint32_t site_lin = c->seg[SR_CS].base + c->sh->eip;
	unsigned site = sites_get(&vm->sites, site_lin);
	struct reach r = reach_of(vm, &i, site, vector);
	if (r.guest_vec >= 0) {
		exc_raise(vm, r.guest_vec, true, 0);    /* the guest's own segment says no */
		return;
	}
	if (!r.ours) {
		/* Not a segment matter the monitor made: alignment, or the like. */
		exc_raise(vm, vector, true, 0);
		return;
	}
	site_learn(vm, &i, site_lin, site, &r);
	if (memop_run(&i) != EMU_NOT_MINE)
		return;
	if (i.op[0] == 0x9d) {
		/* A POPF that sets TF: memop leaves it to the full emulator. */
		emu_commit(&i, emulate(&i));
		return;
	}
	if (mmu_paging(vm->mmu)) {
		/* An instruction memop does not know (x87, SSE...): the guest's own paging
		 * may still refuse the access (ring 3 reading a supervisor page), and then
		 * its #PF is the answer. */
		uint64_t pa;
		unsigned acc = (r.write ? PF_ACC_WRITE : 0) | (c->cpl == 3 ? PF_ACC_USER : 0);
		if (mmu_translate(vm->mmu, r.at, acc, &pa) < 0)
			return;
	}
	vm_stop(vm, STOP_MONITOR_ERROR, 6,
		"eip %#x: guest access to linear %#x that the monitor must emulate (the top "
		"%u MiB, or above a CPL-3 guest's supervisor pages): %s %s is not supported "
		"yet", c->sh->eip, r.at, WIN_SIZE >> 20, i.cs->mnemonic, i.cs->op_str);
}
