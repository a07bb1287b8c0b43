/*
 * cpu.c - the dispatcher: one loop of named phases (QEMU's cpu_exec_loop).
 *
 * Each turn stops on a host signal, delivers a pending exception, takes an interrupt
 * (or sleeps in HLT), runs guest code through the VM's engine until it needs the
 * monitor, and hands that exit to the VM's machine interface (engine.h). The #DB
 * machinery (debug.c: single-stepping, breakpoints) wraps the run.
 */
#include "cpu.h"
#include "aspaces.h"

#include "debug.h"
#include "engine.h"
#include "exceptions.h"
#include "gdbstub.h"
#include "interrupts.h"
#include "vm.h"

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
	aspaces_first_turn(vm);
	vm->engine->attach(vm);
	while (vm->stop == STOP_NONE) {
		/* A CR3 load asked for another process's mappings (aspaces.h): it runs the
		 * guest now, and this one starts a turn over when a CR3 load comes back to
		 * its address space. */
		if (aspaces_switch(vm))
			continue;
		vm->cpu.sh->run = 1;
		if (take_async_stop(vm) || !handle_exception(vm))
			break;
		/* A debugger attached: it may stop the guest here (after an exception is
		 * delivered, so that a step into a fault ends at the handler). */
		bool stepping = false;
		if (vm->gdb) {
			if (gdb_turn(vm))
				continue;
			stepping = gdb_stepping(vm);
		}
		/* A debugger's step holds interrupts off (as QEMU's does), unless in HLT;
		 * the devices still keep time (and translated code is entered only once
		 * a timer signal is taken). */
		if (stepping && !vm->cpu.halted)
			intr_update(vm);
		else if (!handle_interrupt(vm))
			continue;
		/* An exception or interrupt through a task gate loaded CR3. */
		if (aspaces_switch(vm))
			continue;
		/* Instruction breakpoints come after interrupts (SDM Vol. 3, 6.9). With
		 * neither TF nor a breakpoint, the debug machinery costs this test. */
		bool debug = (vm->cpu.sh->vflags & FL_TF) || vm->dbg.armed;
		/* The instruction after MOV SS / POP SS: debug exceptions are inhibited
		 * (SDM Vol. 3, 6.8.3): its instruction breakpoint is not reported, as on
		 * Intel CPUs (the virtual CPU's vendor); it runs alone past it. */
		bool ss_block = vm->dbg.ss_block;
		vm->dbg.ss_block = false;
		if (debug && vm->dbg.armed && ss_block)
			vm->one_step = true;
		else if (debug && vm->dbg.armed && !dbg_before_insn(vm))
			continue;
		if (vm->dbg.host_hit) {
			/* A debugger's instruction breakpoint: it stops before the
			 * instruction; with no stub the hit stays noted (tests). */
			if (vm->gdb) {
				gdb_break(vm);
				continue;
			}
			dbg_host_resume(vm);
		}
		if (stepping)
			vm->one_step = true;
		struct dbg_step step;
		if (debug && !dbg_step_begin(vm, &step))
			continue;
		enum run_exit why = vm->engine->run(vm);
		/* RF is cleared as the next instruction starts (18.3.1.1); a callout may load
		 * it again (IRET). */
		vm->cpu.rf = false;
		switch (why) {
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
		if (debug)
			dbg_step_end(vm, &step);
		if (stepping)
			gdb_after_run(vm);
	}
	vm->engine->detach(vm);
	aspaces_end(vm);        /* not the first process: it reports the stop */
}
