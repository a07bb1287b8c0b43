/*
 * engine.h - the two seams of the dispatcher: how guest code runs (the engine) and what
 * machine the guest sees (the machine interface).
 *
 * cpu_run() (cpu.c) is a loop of named phases in the manner of QEMU's cpu_exec_loop:
 * deliver a pending event, take an interrupt, run guest code until it needs the monitor,
 * and hand that exit to the machine. It knows neither how code runs nor which machine
 * the guest sees:
 *
 * - An engine runs guest code from CS:EIP until something needs the machine. The one
 *   engine today is binary translation (engine_bt.c: look up or translate a block,
 *   chain it, enter it in compatibility mode, and handle its own exits - chains, lookup
 *   misses, inline-cache fills - without coming back). An interpreter for real mode, or
 *   direct execution of para-virtual code, would be another.
 * - A machine interface gives the exits their meaning: a callout is a sensitive
 *   instruction to emulate on full x86 (machine_x86.c), a hypercall on para-x86; an
 *   event is delivered through the IDT on one, as an upcall on the other; a host fault
 *   becomes the guest exception its architecture defines.
 *
 * Both are tables of functions chosen when the VM is created (vm->engine, vm->machine);
 * one call through each per monitor exit, against a few hundred cycles for the exit.
 */
#ifndef TRAPEZE_ENGINE_H
#define TRAPEZE_ENGINE_H

#include <stdbool.h>

struct vm;

/* Why an engine's run came back to the dispatcher. */
enum run_exit {
	RUN_AGAIN,      /* the engine handled it (or nothing ran): loop again */
	RUN_CALLOUT,    /* the instruction at CS:EIP needs the machine (emulate, hypercall) */
	RUN_FAULT,      /* a host fault in guest code: vm->rt.fault says which */
	RUN_STOP,       /* the VM was stopped (vm->stop) */
};

struct engine_ops {
	const char *name;
	/* Before the first run and after the last (per-thread state such as the FPU). */
	void (*attach)(struct vm *vm);
	void (*detach)(struct vm *vm);
	/* Run guest code at CS:EIP until something needs the machine; with vm->one_step
	 * set, just one instruction (single-stepping, an interrupt shadow, a write into
	 * translated code) and clear it. */
	enum run_exit (*run)(struct vm *vm);
	/* The guest was sent elsewhere by the monitor (an event delivered, HLT): whatever
	 * the engine remembered of the last exit no longer leads where the guest goes. */
	void (*redirected)(struct vm *vm);
};

enum intr_result;

struct machine_ops {
	const char *name;
	/* Deliver the pending exception (vm->cpu.exc). */
	void (*deliver_exception)(struct vm *vm);
	/* Deliver an external interrupt if one is due and the guest takes it. */
	enum intr_result (*check_interrupt)(struct vm *vm);
	/* The vCPU is halted: wait for something to wake it. */
	void (*halt)(struct vm *vm);
	/* RUN_CALLOUT: the instruction at CS:EIP. */
	void (*callout)(struct vm *vm);
	/* RUN_FAULT: a host fault in guest code. */
	void (*host_fault)(struct vm *vm);
};

extern const struct engine_ops engine_bt;       /* engine_bt.c */
/* Unmap this process's IRETQ page for 16-bit guest stacks, if any (engine_bt.c). */
void bt_espfix_release(void);
extern const struct machine_ops machine_x86;    /* machine_x86.c */
extern const struct machine_ops machine_para;   /* machine_para.c */

#endif
