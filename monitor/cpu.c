/*
 * cpu.c - the dispatcher: one loop of named phases (QEMU's cpu_exec_loop).
 *
 * Each turn stops on a host signal, delivers a pending exception, takes an interrupt
 * (or sleeps in HLT), runs guest code through the VM's engine until it needs the
 * monitor, and hands that exit to the VM's machine interface (engine.h). Single-stepping
 * wraps the run.
 */
#include "cpu.h"

#include "engine.h"
#include "exceptions.h"
#include "interrupts.h"
#include "vm.h"

/*
 * Single-stepping (EFLAGS.TF; SDM Vol. 3, 17.3.1.4): the dispatcher runs one
 * instruction at a time while TF is set, and after one that began with TF set and
 * completed (EIP moved on), raises the #DB trap with DR6.BS, unless the instruction
 * itself delivered an event (INT n, an exception, whose handler starts with TF clear).
 * POPF and IRET that set TF thus trap after the instruction that follows them.
 */
struct step {
	bool on;
	uint32_t eip, cs, deliveries;
};

static struct step step_begin(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	struct step s = { .on = c->sh->vflags & FL_TF, .eip = c->sh->eip,
			  .cs = c->seg[SR_CS].sel, .deliveries = c->deliveries };
	if (s.on)
		vm->one_step = true;
	return s;
}

static void step_end(struct vm *vm, const struct step *s)
{
	struct cpu *c = &vm->cpu;
	if (!s->on || c->exc.pending || vm->stop != STOP_NONE || c->deliveries != s->deliveries ||
	    (c->sh->eip == s->eip && c->seg[SR_CS].sel == s->cs))
		return;
	c->dr[6] |= DR6_BS;
	exc_raise(vm, VEC_DB, false, 0);
}

/* SIGINT, SIGTERM or SIGHUP came: stop, with the status they ask for. */
static bool take_async_stop(struct vm *vm)
{
	if (!vm->rt.async_signal)
		return false;
	vm_stop(vm, STOP_SIGNAL, 128 + vm->rt.async_signal, "stopped by signal %d at eip %#x",
		vm->rt.async_signal, vm->cpu.sh->eip);
	return true;
}

/* Deliver a pending exception; false if that stopped the VM (a triple fault). */
static bool handle_exception(struct vm *vm)
{
	if (!vm->cpu.exc.pending)
		return true;
	vm->machine->deliver_exception(vm);
	vm->engine->redirected(vm);
	return vm->stop == STOP_NONE;
}

/* Take an interrupt that is due, or wait in HLT; false if no guest code is to run in
 * this turn. */
static bool handle_interrupt(struct vm *vm)
{
	switch (vm->machine->check_interrupt(vm)) {
	case INTR_NONE:
		break;
	case INTR_STEP:
		vm->one_step = true;
		break;
	case INTR_DELIVERED:
		vm->engine->redirected(vm);
		if (vm->stop != STOP_NONE)
			return false;
		break;
	}
	if (vm->cpu.halted) {
		vm->machine->halt(vm);
		vm->engine->redirected(vm);
		return false;
	}
	return true;
}

void cpu_run(struct vm *vm)
{
	vm->engine->attach(vm);
	while (vm->stop == STOP_NONE) {
		vm->cpu.sh->run = 1;
		if (take_async_stop(vm) || !handle_exception(vm))
			break;
		if (!handle_interrupt(vm))
			continue;
		struct step step = step_begin(vm);
		switch (vm->engine->run(vm)) {
		case RUN_CALLOUT:
			vm->machine->callout(vm);
			break;
		case RUN_FAULT:
			vm->machine->host_fault(vm);
			break;
		case RUN_AGAIN:
		case RUN_STOP:
			break;
		}
		step_end(vm, &step);
	}
	vm->engine->detach(vm);
}
