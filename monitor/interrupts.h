/*
 * interrupts.h - external interrupts: the host timer that brings the CPU back for the
 * board's timed devices, delivery from the board's interrupt controller, HLT.
 *
 * The devices keep their time from the host's CLOCK_MONOTONIC and compute their state
 * when asked; nothing runs per guest tick. One POSIX timer (SIGALRM to the vCPU thread,
 * signals.c) is armed for the earliest deadline on the board; its signal unchains the
 * running block so the guest is back in the dispatcher within a block, where
 * intr_check() brings the board up to date and delivers what its interrupt controller
 * asserts. Only the board (devices/board.h) and the controller seam (devices/intc.h)
 * are seen here: no device by name. The guest's EFLAGS.IF is virtual (VC_VIF); the STI
 * and MOV SS interrupt shadows hold delivery back for one instruction.
 *
 * Interface: intr_init() before the board is built (its timed devices read vm->clock);
 * intr_check() at every dispatcher turn; intr_halt() for HLT with IF set; the signal
 * handler sets vm->rt.timer_fired.
 */
#ifndef TRAPEZE_INTERRUPTS_H
#define TRAPEZE_INTERRUPTS_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* The devices' clock (vm->clock) and the host timer's state. */
void intr_init(struct vm *vm);
/* Undo intr_watch_input(). */
void intr_exit(struct vm *vm);
/* Have input on fd (COM1's) signal the vCPU thread (SIGIO), so that a receive
 * interrupt comes while the guest computes; restored by intr_exit(). */
void intr_watch_input(struct vm *vm, int fd);

enum intr_result {
	INTR_NONE,              /* nothing to deliver */
	INTR_STEP,              /* one to deliver after the next instruction (a shadow) */
	INTR_DELIVERED,         /* delivered: the guest is at its handler */
};

/* Bring the board up to date if time passed or the guest touched a timed device,
 * re-arm the host timer, and deliver a pending interrupt if the guest can take one. */
enum intr_result intr_check(struct vm *vm);

/* Bring the devices up to date if the host timer fired or the guest touched a timed
 * device's port since the last look (and arm the timer for the next deadline). */
void intr_update(struct vm *vm);

/* Sleep until ready(vm), the vclock time until (VCLOCK_NEVER: none) or a stop; the
 * devices stay up to date meanwhile. -1 at once if nothing could ever wake it. */
int intr_sleep(struct vm *vm, uint64_t until, bool (*ready)(struct vm *vm));

/* HLT with EFLAGS.IF set: sleep until a device interrupts (or a signal comes). */
void intr_halt(struct vm *vm);

#endif
