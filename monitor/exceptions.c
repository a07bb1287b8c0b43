/*
 * exceptions.c - delivery through interrupt and trap gates (SDM Vol. 3, 6.12).
 *
 * Interrupt and trap gates to the same or a more privileged level (the stack from the
 * TSS), task gates through a task switch (task.c); 16-bit gates stop the VM with a
 * clear message. Called by the dispatcher (exc_deliver, intr_external) and the callout
 * emulator (intr_soft); exc_raise() by whoever finds a fault.
 */
#include "exceptions.h"

#include <stdio.h>

#include "privilege.h"
#include "segments.h"
#include "task.h"
#include "vm.h"

static bool contributory(int v)
{
	return v == VEC_DE || (v >= VEC_TS && v <= VEC_GP);
}

/* The fault-class exceptions (SDM Vol. 3, 6.5, Table 6-1); #DB is a fault or a trap
 * by its cause, and debug.c sets RF for the one fault that wants it. */
static bool fault_class(int v)
{
	return v == VEC_DE || v == VEC_BR || v == VEC_UD || v == VEC_NM ||
	       (v >= VEC_TS && v <= VEC_PF) || v == VEC_MF || v == VEC_AC || v == VEC_XM;
}

static bool has_error_code(int v)
{
	return v == VEC_DF || (v >= VEC_TS && v <= VEC_PF) || v == VEC_AC;
}

void exc_raise(struct vm *vm, int vector, bool has_err, uint32_t err)
{
	struct cpu *c = &vm->cpu;
	int first = c->exc.pending ? c->exc.vector : c->delivering;

	if (first >= 0) {
		if (first == VEC_DF) {
			vm_stop(vm, STOP_TRIPLE_FAULT, 4,
				"triple fault: vector %d while delivering #DF at eip %#x", vector,
				c->sh->eip);
			return;
		}
		if ((contributory(first) && contributory(vector)) ||
		    (first == VEC_PF && (vector == VEC_PF || contributory(vector)))) {
			vector = VEC_DF;
			has_err = true;
			err = 0;
		}
	}
	c->exc = (struct pending_exc){ .pending = true, .vector = (uint8_t)vector,
				       .has_err = has_err, .err = err };
}

/* Gate vector of the IDT into *gate, checked for delivery (SDM Vol. 3, 6.12.1): in the
 * IDT's limit, a gate, its DPL for a soft interrupt, present. Its type (DESC_*), or -1
 * with #GP/#NP(vector, IDT) raised. */
static int idt_gate(struct vm *vm, int vector, bool soft, uint32_t ext, uint64_t *gate)
{
	struct cpu *c = &vm->cpu;
	uint32_t gerr = (uint32_t)vector * 8 + ERRC_IDT + ext;
	if ((uint32_t)vector * 8 + 7 > c->idtr.limit) {
		exc_raise(vm, VEC_GP, true, gerr);
		return -1;
	}
	lin_read(vm, c->idtr.base + (uint32_t)vector * 8, gate, 8);
	/* The type with S: an S set (a code or data segment) is no gate either. */
	unsigned type = (*gate >> 40) & 0x1f;
	if (type != DESC_INT_GATE32 && type != DESC_TRAP_GATE32 && type != DESC_TASK_GATE &&
	    type != DESC_INT_GATE16 && type != DESC_TRAP_GATE16) {
		exc_raise(vm, VEC_GP, true, gerr);
		return -1;
	}
	if (soft && DESC_DPL(*gate) < (unsigned)c->cpl) {
		exc_raise(vm, VEC_GP, true, gerr);
		return -1;
	}
	if (!desc_present(*gate)) {
		exc_raise(vm, VEC_NP, true, gerr);
		return -1;
	}
	return (int)type;
}

/* The handler's code segment, named by an interrupt or trap gate, into *cs
 * (gate_code_seg), whose limit must hold the gate's offset. 0, or -1. */
static int handler_cs(struct vm *vm, uint64_t gate, uint32_t ext, struct seg *cs)
{
	uint64_t d;
	if (gate_code_seg(vm, GATE_SEL(gate), ext, cs, &d, NULL) < 0)
		return -1;
	if (GATE_OFF(gate) > cs->limit) {
		exc_raise(vm, VEC_GP, true, ext);
		return -1;
	}
	return 0;
}

/* Push the interrupted EFLAGS (flags), CS, EIP and the error code (has_err) for a
 * handler in cs, and make cs the code segment: to a more privileged level on the
 * stack from the TSS, with the interrupted SS:ESP below it (SDM Vol. 3, 6.12.1,
 * Figure 6-4); else on the current stack. 0, or -1 with nothing changed. */
static int push_handler_frame(struct vm *vm, struct seg *cs, uint32_t flags, bool has_err,
			      uint32_t err, uint32_t ext)
{
	struct cpu *c = &vm->cpu;
	if (!seg_is_conforming(cs->attr) && SEG_DPL(cs->attr) < (unsigned)c->cpl) {
		int ncpl = (int)SEG_DPL(cs->attr);
		uint16_t nss;
		uint32_t nesp;
		struct seg ss;
		if (tss_ring_stack(vm, ncpl, &nss, &nesp, ext) < 0 ||
		    stack_seg_check(vm, nss, ncpl, &ss, VEC_TS, ext) < 0)
			return -1;
		uint32_t frame[6] = { c->seg[SR_SS].sel, c->sh->regs[R_ESP], flags,
				      c->seg[SR_CS].sel, c->sh->eip, err };
		if (push_frame(vm, &ss, &nesp, frame, has_err ? 6 : 5, 4, (nss & SEL_ERR_MASK) | ext) < 0)
			return -1;
		priv_switch(vm, cs, ncpl, &ss, nesp);
		return 0;
	}
	uint32_t esp = c->sh->regs[R_ESP];
	if (stack_push(vm, flags, 4) < 0 || stack_push(vm, c->seg[SR_CS].sel, 4) < 0 ||
	    stack_push(vm, c->sh->eip, 4) < 0 || (has_err && stack_push(vm, err, 4) < 0)) {
		c->sh->regs[R_ESP] = esp;
		return -1;
	}
	cs->sel = (uint16_t)((cs->sel & ~3u) | (unsigned)c->cpl);
	c->seg[SR_CS] = *cs;
	seg_sync(vm, SR_CS);
	return 0;
}

/*
 * Deliver vector through the IDT. soft: an INT n, INT3 or INTO (the gate's DPL is
 * checked; error codes get no EXT bit, which every other event sets). fault: a
 * fault-class exception, whose frame (or task image) has RF set so that the
 * instruction, restarted, does not break again (SDM Vol. 3, 18.3.1.1). Returns 0, or
 * -1 with a new exception raised.
 */
static int deliver(struct vm *vm, int vector, bool soft, bool fault, bool has_err, uint32_t err)
{
	struct cpu *c = &vm->cpu;
	uint32_t ext = soft ? 0 : ERRC_EXT;
	uint64_t gate;
	int type = idt_gate(vm, vector, soft, ext, &gate);
	if (type < 0)
		return -1;
	if (fault)
		c->rf = true;
	if (type == DESC_TASK_GATE) {   /* the handler is a task (how #DF gets a stack) */
		/* A fault after the switch belongs to the new task: delivered, not undone. */
		if (task_switch(vm, GATE_SEL(gate), TASK_INT, c->sh->eip, has_err, err) == -1)
			return -1;
		/* An event delivered: INT n raises no single-step trap of its own, and the
		 * new task runs with TF from its TSS (SDM Vol. 3, 18.3.1.4). */
		c->deliveries++;
		vm->stats.exceptions[vector & 255]++;
		return 0;
	}
	if (type != DESC_INT_GATE32 && type != DESC_TRAP_GATE32) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "vector %d: 16-bit gates not supported yet", vector);
		return -1;
	}
	struct seg cs;
	uint32_t flags = cpu_eflags(c);
	if (handler_cs(vm, gate, ext, &cs) < 0 ||
	    push_handler_frame(vm, &cs, flags, has_err, err, ext) < 0)
		return -1;
	flags &= ~(FL_TF | FL_NT | FL_RF | FL_VM);
	if (type == DESC_INT_GATE32)    /* an interrupt gate, unlike a trap gate, clears IF */
		flags &= ~FL_IF;
	cpu_set_eflags(c, flags);
	c->sh->eip = GATE_OFF(gate);
	c->deliveries++;
	vm->stats.exceptions[vector & 255]++;
	return 0;
}

void exc_deliver(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	while (c->exc.pending && vm->stop == STOP_NONE) {
		struct pending_exc e = c->exc;
		c->exc.pending = false;
		c->delivering = e.vector;
		if (vm->cfg.trace)
			fprintf(stderr, "trapeze: exception %d err %#x at eip %#x\n", e.vector,
				e.has_err ? e.err : 0, c->sh->eip);
		deliver(vm, e.vector, false, fault_class(e.vector), e.has_err && has_error_code(e.vector),
			e.err);
		c->delivering = -1;
	}
}

void intr_soft(struct vm *vm, int vector, uint32_t next_eip, bool soft)
{
	struct cpu *c = &vm->cpu;
	uint32_t eip = c->sh->eip;
	c->sh->eip = next_eip;
	/* Not an exception for #DF purposes: a fault here is delivered on its own. */
	if (deliver(vm, vector, soft, false, false, 0) < 0)
		c->sh->eip = eip;       /* a fault in delivery reports the INT itself */
	exc_deliver(vm);
}

void intr_external(struct vm *vm, int vector)
{
	deliver(vm, vector, false, false, false, 0);
	exc_deliver(vm);
}
