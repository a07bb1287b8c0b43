/*
 * task.c - hardware task switches (see task.h).
 *
 * 32-bit TSS layout (SDM Vol. 3, Figure 7-2): 0 previous-task link, 4..24 SS0:ESP0 to
 * SS2:ESP2, 28 CR3, 32 EIP, 36 EFLAGS, 40..68 EAX..EDI, 72..92 ES CS SS DS FS GS,
 * 96 LDT selector, 100 T flag, 102 I/O map base. 16-bit TSSs stop the VM.
 */
#include "task.h"

#include "exceptions.h"
#include "privilege.h"
#include "segments.h"
#include "vm.h"
#include "../shadowmmu/mmu.h"

#define TSS_LINK   0
#define TSS_CR3    28
#define TSS_EIP    32
#define TSS_EFLAGS 36
#define TSS_REGS   40
#define TSS_SEGS   72
#define TSS_LDT    96

#define DESC_BUSY  (2ull << 40)         /* type 9 (available) <-> 11 (busy) */

static uint32_t rd32(struct vm *vm, uint32_t lin)
{
	uint32_t v = 0;
	lin_read(vm, lin, &v, 4);
	return v;
}

static void wr32(struct vm *vm, uint32_t lin, uint32_t v) { lin_write(vm, lin, &v, 4); }

static void set_busy(struct vm *vm, uint32_t desc_lin, uint64_t d, bool busy)
{
	d = busy ? d | DESC_BUSY : d & ~DESC_BUSY;
	uint8_t b = (uint8_t)(d >> 40);
	lin_write(vm, desc_lin + 5, &b, 1);
}

/* Load segment register sr of the new task from selector sel; faults are #TS(sel)
 * (#NP / #SS for a segment not present), raised in the new task (SDM Vol. 3, 7.3). */
static int task_load_seg(struct vm *vm, int sr, uint16_t sel, int cpl)
{
	struct cpu *c = &vm->cpu;
	uint64_t d;
	uint32_t err = sel & 0xfffc;
	if ((sel & ~3u) == 0 && sr != SR_CS && sr != SR_SS) {
		c->seg[sr] = (struct seg){ .sel = sel };
		seg_sync(vm, sr);
		return 0;
	}
	if ((sel & ~3u) == 0 || !desc_fetch(vm, sel, &d, NULL)) {
		exc_raise(vm, VEC_TS, true, err);
		return -1;
	}
	struct seg s;
	seg_from_desc(&s, sel, d);
	unsigned type = SEG_TYPE(s.attr), dpl = SEG_DPL(s.attr), rpl = sel & 3u;
	bool code = type & 8, ok;
	if (sr == SR_CS)
		ok = code && ((type & 4) ? dpl <= rpl : dpl == rpl);
	else if (sr == SR_SS)
		ok = !code && (type & 2) && dpl == (unsigned)cpl && rpl == (unsigned)cpl;
	else
		ok = (!code || (type & 2)) &&
		     ((code && (type & 4)) || (dpl >= (unsigned)cpl && dpl >= rpl));
	if (!(s.attr & SEG_S) || !ok) {
		exc_raise(vm, VEC_TS, true, err);
		return -1;
	}
	if (!(s.attr & SEG_P)) {
		exc_raise(vm, sr == SR_SS ? VEC_SS : VEC_NP, true, err);
		return -1;
	}
	s.attr |= 1;
	c->seg[sr] = s;
	seg_sync(vm, sr);
	return 0;
}

int task_switch(struct vm *vm, uint16_t sel, enum task_reason why, uint32_t ret_eip,
		bool has_err, uint32_t err)
{
	struct cpu *c = &vm->cpu;
	uint64_t d;
	uint32_t dlin;
	uint32_t serr = sel & 0xfffc;

	/* The new TSS: a GDT descriptor, available (busy for IRET), present, 32-bit. */
	if ((sel & 4) || !desc_fetch(vm, sel, &d, &dlin)) {
		exc_raise(vm, why == TASK_IRET ? VEC_TS : VEC_GP, true, serr);
		return -1;
	}
	struct seg nt;
	seg_from_desc(&nt, sel, d);
	unsigned type = SEG_TYPE(nt.attr);
	bool want_busy = why == TASK_IRET;
	if ((nt.attr & SEG_S) || (type & 5) != 1 || !!(type & 2) != want_busy) {
		exc_raise(vm, why == TASK_IRET ? VEC_TS : VEC_GP, true, serr);
		return -1;
	}
	if (!(nt.attr & SEG_P)) {
		exc_raise(vm, VEC_NP, true, serr);
		return -1;
	}
	if (nt.limit < 0x67) {
		exc_raise(vm, VEC_TS, true, serr);
		return -1;
	}
	if (!(type & 8) || !seg_usable(&c->tr) || !(SEG_TYPE(c->tr.attr) & 8)) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "task switch with a 16-bit TSS not supported yet");
		return -1;
	}

	/* Save the outgoing task (dynamic fields only). */
	uint32_t old = c->tr.base;
	uint32_t flags = cpu_eflags(c);
	if (why == TASK_IRET)
		flags &= ~FL_NT;
	wr32(vm, old + TSS_EIP, ret_eip);
	wr32(vm, old + TSS_EFLAGS, flags);
	for (int r = 0; r < 8; r++)
		wr32(vm, old + TSS_REGS + 4 * (uint32_t)r, c->sh->regs[r]);
	for (int sr = 0; sr < SR_COUNT; sr++)
		wr32(vm, old + TSS_SEGS + 4 * (uint32_t)sr, c->seg[sr].sel);
	if (why == TASK_JMP || why == TASK_IRET) {
		uint64_t od;
		uint32_t olin;
		if (desc_fetch(vm, c->tr.sel, &od, &olin))
			set_busy(vm, olin, od, false);
	}

	/* Switch TR; nest for CALL and interrupts. */
	uint32_t base = nt.base;
	uint32_t nflags = rd32(vm, base + TSS_EFLAGS);
	if (why == TASK_CALL || why == TASK_INT) {
		uint32_t link = c->tr.sel;
		lin_write(vm, base + TSS_LINK, &link, 2);
		nflags |= FL_NT;
	}
	if (why != TASK_IRET)
		set_busy(vm, dlin, d, true);
	nt.attr |= 2;                           /* busy */
	c->tr = nt;
	c->cr0 |= CR0_TS;

	/* Load the incoming task. From here on, faults belong to the new task. */
	/* A CR3 load like MOV's: the TLB, and under PAE paging the PDPTEs (SDM Vol. 3,
	 * 4.4.1), with #GP(0) for a bad one as MOV gives. */
	if ((c->cr0 & CR0_PG) && mmu_load_cr3(vm->mmu, rd32(vm, base + TSS_CR3)) < 0) {
		exc_raise(vm, VEC_GP, true, 0);
		return -2;
	}
	for (int r = 0; r < 8; r++)
		c->sh->regs[r] = rd32(vm, base + TSS_REGS + 4 * (uint32_t)r);
	cpu_set_eflags(c, (nflags & ~FL_VM) | FL_1);
	c->sh->eip = rd32(vm, base + TSS_EIP);
	uint16_t segs[SR_COUNT], ldt;
	for (int sr = 0; sr < SR_COUNT; sr++)
		lin_read(vm, base + TSS_SEGS + 4 * (uint32_t)sr, &segs[sr], 2);
	lin_read(vm, base + TSS_LDT, &ldt, 2);
	c->cpl = segs[SR_CS] & 3;

	if ((ldt & ~3u) == 0) {
		c->ldtr = (struct seg){ .sel = ldt };
	} else {
		uint64_t ld;
		struct seg ls;
		if ((ldt & 4) || !desc_fetch(vm, ldt, &ld, NULL)) {
			exc_raise(vm, VEC_TS, true, ldt & 0xfffc);
			return -2;
		}
		seg_from_desc(&ls, ldt, ld);
		if ((ls.attr & SEG_S) || SEG_TYPE(ls.attr) != 2 || !(ls.attr & SEG_P)) {
			exc_raise(vm, VEC_TS, true, ldt & 0xfffc);
			return -2;
		}
		c->ldtr = ls;
	}
	static const int order[] = { SR_CS, SR_SS, SR_DS, SR_ES, SR_FS, SR_GS };
	for (int k = 0; k < SR_COUNT; k++)
		if (task_load_seg(vm, order[k], segs[order[k]], c->cpl) < 0)
			return -2;
	if (c->sh->eip > c->seg[SR_CS].limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return -2;
	}
	if (has_err && stack_push(vm, err, 4) < 0)
		return -2;
	return 0;
}

int task_return(struct vm *vm, uint32_t ret_eip)
{
	uint16_t link = 0;
	lin_read(vm, vm->cpu.tr.base + TSS_LINK, &link, 2);
	return task_switch(vm, link, TASK_IRET, ret_eip, false, 0);
}
