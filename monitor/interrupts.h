/*
 * interrupts.h - external interrupts: the PC's interrupt controller and timed devices,
 * the host timer that brings the CPU back for them, delivery, HLT.
 *
 * The devices keep their time from the host's CLOCK_MONOTONIC and compute their state
 * when asked; nothing runs per guest tick. One POSIX timer (SIGALRM to the vCPU thread,
 * signals.c) is armed for the earliest device deadline; its signal unchains the running
 * block so the guest is back in the dispatcher within a block, where intr_check()
 * brings the devices up to date and delivers what the 8259 asserts. The guest's
 * EFLAGS.IF is virtual (VC_VIF); the STI and MOV SS interrupt shadows hold delivery
 * back for one instruction.
 *
 * Interface: intr_init() after the I/O bus exists; intr_check() at every dispatcher
 * turn; intr_halt() for HLT with IF set; intr_timer_fired() from the signal handler.
 */
#ifndef TRAPEZE_INTERRUPTS_H
#define TRAPEZE_INTERRUPTS_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Create the 8259 pair, the 8254 and the RTC on vm->io and wire the UART's IRQ 4.
 * Negative errno on failure. */
int intr_init(struct vm *vm);
void intr_exit(struct vm *vm);
/* Have input on fd (COM1's) signal the vCPU thread (SIGIO), so that a receive
 * interrupt comes while the guest computes; restored by intr_exit(). */
void intr_watch_input(struct vm *vm, int fd);

enum intr_result {
	INTR_NONE,              /* nothing to deliver */
	INTR_STEP,              /* one to deliver after the next instruction (a shadow) */
	INTR_DELIVERED,         /* delivered: the guest is at its handler */
};

/* Bring the devices up to date if time passed or the guest did I/O, re-arm the host
 * timer, and deliver a pending interrupt if the guest can take one now. */
enum intr_result intr_check(struct vm *vm);

/* The guest accessed port: if it belongs to a timed device (PIT, port 0x61, RTC), its
 * deadline may have moved, and the next intr_check() looks at the clock again. */
void intr_port_io(struct vm *vm, uint16_t port);

/* HLT with EFLAGS.IF set: sleep until a device interrupts (or a signal comes). */
void intr_halt(struct vm *vm);

#endif
