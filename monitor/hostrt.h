/*
 * hostrt.h - the host runtime of the vCPU thread: what signal handlers, the host timer
 * and the console share with the dispatcher.
 *
 * Owned by signals.c (the handlers fill it in), interrupts.c (the deadline the host
 * timer is armed for) and console.c (COM1 input and its escape key); one per VM, inside
 * struct vm, shared by the VM's processes (aspaces.c). The host timer itself is each
 * process's own (signals.c).
 */
#ifndef TRAPEZE_HOSTRT_H
#define TRAPEZE_HOSTRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct block;

struct hostrt {
	void *altstack;                 /* signal stack of the vCPU thread (private memory) */
	size_t altstack_size;
	struct block *entering;         /* the block tz_enter is starting, for signals */
	volatile int async_signal;      /* SIGINT/SIGTERM/SIGHUP taken, 0 if none */
	uint64_t timer_deadline;        /* what the host timer is armed for (vclock ns; signals.c) */
	volatile int timer_fired;       /* SIGALRM came: bring the devices up to date */
	volatile int sigio;             /* SIGIO came: the gdb stub looks at its sockets */
	int async_fd[2];                /* input that raises SIGIO (COM1's, the network's); -1 */
	bool console_escape;            /* Ctrl-A seen on the console (console.c) */
	/* The last signal taken in guest code (signals.c fills it in). */
	struct {
		int sig, code, trapno;
		uint32_t err;
		uint64_t addr;
		uint32_t host_eip;
		uint8_t side;           /* the instruction's side-table flags (SIDE_*) */
	} fault;
};

#endif
