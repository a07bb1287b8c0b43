/*
 * task.c - hardware task switches (see task.h).
 *
 * task_switch() checks the new TSS, saves the outgoing task in its own (the 32-bit
 * layout is in arch/x86.h, TSS_*), switches TR with the busy bits, link and NT of
 * SDM Vol. 3, Table 7-2, and loads the incoming task; a fault in that last step
 * belongs to the new task. 16-bit TSSs stop the VM.
 */
#include "task.h"

#include "exceptions.h"
#include "privilege.h"
#include "segments.h"
#include "vm.h"
#include "../shadowmmu/mmu.h"

static uint32_t rd32(struct vm *vm, uint32_t lin)
{
	uint32_t v = 0;
	lin_read(vm, lin, &v, 4);
	return v;
}

static void wr32(struct vm *vm, uint32_t lin, uint32_t v) { lin_write(vm, lin, &v, 4); }

void tss_set_busy(struct vm *vm, uint32_t desc_lin, uint64_t d, bool busy)
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
	uint32_t err = sel & SEL_ERR_MASK;
	if (sel_is_null(sel) && sr != SR_CS && sr != SR_SS) {
		c->seg[sr] = (struct seg){ .sel = sel };
		seg_sync(vm, sr);
		return 0;
	}
	if (sel_is_null(sel) || !desc_fetch(vm, sel, &d, NULL)) {
		exc_raise(vm, VEC_TS, true, err);
		return -1;
	}
	struct seg s;
	seg_from_desc(&s, sel, d);
	unsigned dpl = SEG_DPL(s.attr), rpl = SEL_RPL(sel);
	bool ok;
	if (sr == SR_CS)        /* code; DPL = RPL, or DPL <= RPL when conforming */
		ok = seg_is_code(s.attr) && (seg_is_conforming(s.attr) ? dpl <= rpl : dpl == rpl);
	else if (sr == SR_SS)   /* writable data at the new CPL */
		ok = seg_is_data_writable(s.attr) && dpl == (unsigned)cpl && rpl == (unsigned)cpl;
	else                    /* data or readable code, visible unless conforming */
		ok = seg_is_readable(s.attr) &&
		     (seg_is_conforming(s.attr) || (dpl >= (unsigned)cpl && dpl >= rpl));
	if (seg_is_system(s.attr) || !ok) {
		exc_raise(vm, VEC_TS, true, err);
		return -1;
	}
	if (!seg_present(s.attr)) {
		exc_raise(vm, sr == SR_SS ? VEC_SS : VEC_NP, true, err);
		return -1;
	}
	s.attr |= SEG_ACCESSED;
	c->seg[sr] = s;
	seg_sync(vm, sr);
	return 0;
}

/* The new TSS: a GDT descriptor, available (busy for IRET), present, big enough; into
 * *nt, its descriptor *d at linear *dlin. 0, or -1 with the exception raised. */
static int task_check_new(struct vm *vm, uint16_t sel, enum task_reason why, struct seg *nt,
			  uint64_t *d, uint32_t *dlin)
{
	struct cpu *c = &vm->cpu;
	uint32_t serr = sel & SEL_ERR_MASK;
	int vec = why == TASK_IRET ? VEC_TS : VEC_GP;
	if ((sel & SEL_TI) || !desc_fetch(vm, sel, d, dlin)) {
		exc_raise(vm, vec, true, serr);
		return -1;
	}
	seg_from_desc(nt, sel, *d);
	unsigned type = SEG_TYPE(nt->attr);
	bool busy = type == DESC_TSS16_BUSY || type == DESC_TSS32_BUSY;
	bool tss = busy || type == DESC_TSS16_AVAIL || type == DESC_TSS32_AVAIL;
	if (!seg_is_system(nt->attr) || !tss || busy != (why == TASK_IRET)) {
		exc_raise(vm, vec, true, serr);
		return -1;
	}
	if (!seg_present(nt->attr)) {
		exc_raise(vm, VEC_NP, true, serr);
		return -1;
	}
	if (nt->limit < TSS32_MIN_LIMIT) {
		exc_raise(vm, VEC_TS, true, serr);
		return -1;
	}
	unsigned cur = SEG_TYPE(c->tr.attr);
	if ((type != DESC_TSS32_AVAIL && type != DESC_TSS32_BUSY) || !seg_usable(&c->tr) ||
	    (cur != DESC_TSS32_AVAIL && cur != DESC_TSS32_BUSY)) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "task switch with a 16-bit TSS not supported yet");
		return -1;
	}
	return 0;
}

/* Save the outgoing task's dynamic fields in its TSS; JMP and IRET leave it not busy. */
static void task_save(struct vm *vm, enum task_reason why, uint32_t ret_eip)
{
	struct cpu *c = &vm->cpu;
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
			tss_set_busy(vm, olin, od, false);
	}
}

/* The new task's LDT (a null selector leaves LDTR unusable); #TS(ldt) in the new task. */
static int task_load_ldt(struct vm *vm, uint16_t ldt)
{
	struct cpu *c = &vm->cpu;
	if (sel_is_null(ldt)) {
		c->ldtr = (struct seg){ .sel = ldt };
		return 0;
	}
	uint64_t ld;
	struct seg ls;
	if ((ldt & SEL_TI) || !desc_fetch(vm, ldt, &ld, NULL)) {
		exc_raise(vm, VEC_TS, true, ldt & SEL_ERR_MASK);
		return -1;
	}
	seg_from_desc(&ls, ldt, ld);
	if (!seg_is_system(ls.attr) || SEG_TYPE(ls.attr) != DESC_LDT || !seg_present(ls.attr)) {
		exc_raise(vm, VEC_TS, true, ldt & SEL_ERR_MASK);
		return -1;
	}
	c->ldtr = ls;
	return 0;
}

/* Load the incoming task from its TSS at base (TR already switched). From here on,
 * faults belong to the new task. 0, or -1 with the exception raised in it. */
static int task_load(struct vm *vm, uint32_t base, uint32_t nflags)
{
	struct cpu *c = &vm->cpu;
	/* A CR3 load like MOV's: the TLB, and under PAE paging the PDPTEs (SDM Vol. 3,
	 * 4.4.1), with #GP(0) for a bad one as MOV gives. */
	if ((c->cr0 & CR0_PG) && mmu_load_cr3(vm->mmu, rd32(vm, base + TSS_CR3)) < 0) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	for (int r = 0; r < 8; r++)
		c->sh->regs[r] = rd32(vm, base + TSS_REGS + 4 * (uint32_t)r);
	cpu_set_eflags(c, (nflags & ~FL_VM) | FL_1);
	c->sh->eip = rd32(vm, base + TSS_EIP);
	uint16_t segs[SR_COUNT], ldt;
	for (int sr = 0; sr < SR_COUNT; sr++)
		lin_read(vm, base + TSS_SEGS + 4 * (uint32_t)sr, &segs[sr], 2);
	lin_read(vm, base + TSS_LDT, &ldt, 2);
	c->cpl = SEL_RPL(segs[SR_CS]);
	if (task_load_ldt(vm, ldt) < 0)
		return -1;
	static const int order[] = { SR_CS, SR_SS, SR_DS, SR_ES, SR_FS, SR_GS };
	for (int k = 0; k < SR_COUNT; k++)
		if (task_load_seg(vm, order[k], segs[order[k]], c->cpl) < 0)
			return -1;
	if (c->sh->eip > c->seg[SR_CS].limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	return 0;
}

int task_switch(struct vm *vm, uint16_t sel, enum task_reason why, uint32_t ret_eip,
		bool has_err, uint32_t err)
{
	struct cpu *c = &vm->cpu;
	uint64_t d;
	uint32_t dlin;
	struct seg nt;
	if (task_check_new(vm, sel, why, &nt, &d, &dlin) < 0)
		return -1;
	task_save(vm, why, ret_eip);

	/* Switch TR; nest for CALL and interrupts (SDM Vol. 3, Table 7-2). */
	uint32_t base = nt.base;
	uint32_t nflags = rd32(vm, base + TSS_EFLAGS);
	if (why == TASK_CALL || why == TASK_INT) {
		uint32_t link = c->tr.sel;
		lin_write(vm, base + TSS_LINK, &link, 2);
		nflags |= FL_NT;
	}
	if (why != TASK_IRET)
		tss_set_busy(vm, dlin, d, true);
	nt.attr |= SEG_TSS_BUSY;
	c->tr = nt;
	c->cr0 |= CR0_TS;

	if (task_load(vm, base, nflags) < 0)
		return -2;
	if (has_err && stack_push(vm, err, 4) < 0)
		return -2;
	/* The new TSS's T flag: #DB with DR6.BT before the task's first instruction
	 * (SDM Vol. 3, 18.3.1.5). */
	uint16_t t = 0;
	lin_read(vm, base + TSS_T, &t, 2);
	if (t & 1) {
		c->dr[6] |= DR6_BT;
		exc_raise(vm, VEC_DB, false, 0);
	}
	return 0;
}

int task_return(struct vm *vm, uint32_t ret_eip)
{
	uint16_t link = 0;
	lin_read(vm, vm->cpu.tr.base + TSS_LINK, &link, 2);
	return task_switch(vm, link, TASK_IRET, ret_eip, false, 0);
}
