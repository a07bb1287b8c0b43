/*
 * interrupts.c - external interrupts (see interrupts.h): the host clock the devices
 * count on, the host timer armed for the board's earliest deadline, delivery from the
 * board's interrupt controller, and HLT. Which device sits on which line is the
 * board's business (devices/pc.c).
 */
#define _GNU_SOURCE
#include "interrupts.h"
#include "signals.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "aspaces.h"
#include "exceptions.h"
#include "gdbstub.h"
#include "vm.h"
#include "../devices/board.h"
#include "../devices/clock.h"
#include "../devices/intc.h"

#define MIN_TIMER_NS 20000

static uint64_t monotonic_ns(void *opaque)
{
	(void)opaque;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void intr_init(struct vm *vm)
{
	vm->clock = (struct vclock){ monotonic_ns, NULL };
	vm->rt.async_fd[0] = vm->rt.async_fd[1] = -1;
	vm->rt.timer_deadline = VCLOCK_NEVER;
}

void intr_watch_input(struct vm *vm, int fd)
{
	struct f_owner_ex own = { F_OWNER_TID, gettid() };
	int fl = fcntl(fd, F_GETFL);
	int k = vm->rt.async_fd[0] < 0 ? 0 : 1;
	if (vm->rt.async_fd[k] >= 0 || fl < 0 || fcntl(fd, F_SETOWN_EX, &own) < 0 ||
	    fcntl(fd, F_SETSIG, SIGIO) < 0 || fcntl(fd, F_SETFL, fl | O_ASYNC) < 0)
		return;                 /* a file, /dev/null: polled at timer ticks and in HLT */
	vm->rt.async_fd[k] = fd;
}

void intr_exit(struct vm *vm)
{
	for (int k = 0; k < 2; k++) {
		if (vm->rt.async_fd[k] < 0)
			continue;
		int fl = fcntl(vm->rt.async_fd[k], F_GETFL);
		if (fl >= 0)
			fcntl(vm->rt.async_fd[k], F_SETFL, fl & ~O_ASYNC);
		vm->rt.async_fd[k] = -1;
	}
}

/* Bring the board to the present and arm the host timer for its next deadline. */
static void devices_update(struct vm *vm)
{
	uint64_t now = vclock_now(&vm->clock);
	board_update(vm->board, now);
	uint64_t d = board_next_deadline(vm->board);
	/* A guest may program the PIT for an interrupt every microsecond; the host timer
	 * does not go faster than this, and the guest loses ticks, as a slow PC would. */
	uint64_t soonest = now + MIN_TIMER_NS;
	if (d < soonest)
		d = soonest;
	if (d == vm->rt.timer_deadline || !signals_timer_ok())
		return;
	struct itimerspec its = { 0 };
	if (d != VCLOCK_NEVER) {
		its.it_value.tv_sec = (time_t)(d / 1000000000u);
		its.it_value.tv_nsec = (long)(d % 1000000000u);
	}
	vm->rt.timer_deadline = d;
	signals_timer_set(TIMER_ABSTIME, &its);
}

void intr_update(struct vm *vm)
{
	if (vm->rt.timer_fired || vm->io_dirty) {
		vm->rt.timer_fired = 0;
		vm->io_dirty = false;
		devices_update(vm);
	}
}

enum intr_result intr_check(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	intr_update(vm);
	/* A shadow from an emulated STI or MOV SS, or from an inline STI right before
	 * the exit (translated code notes where its next instruction is). */
	bool shadow = c->intr_shadow || (c->sh->sti_eip && c->sh->sti_eip == c->sh->eip);
	c->intr_shadow = false;
	c->sh->sti_eip = 0;
	bool nmi = !c->nmi_blocked && intc_nmi_pending(vm->intc);
	c->sh->irq = intc_pending(vm->intc) || nmi;
	if (nmi && !c->exc.pending) {
		/* An NMI comes whatever IF says, and blocks the next until an IRET. */
		if (shadow)
			return INTR_STEP;
		intc_nmi_ack(vm->intc);
		c->nmi_blocked = true;
		c->halted = false;
		vm->stats.interrupts++;
		intr_external(vm, VEC_NMI);
		return INTR_DELIVERED;
	}
	if (!cpu_if(c) || c->exc.pending || !c->sh->irq)
		return INTR_NONE;
	if (shadow)
		return INTR_STEP;       /* the instruction after STI / MOV SS runs first */
	int vector = intc_ack(vm->intc);
	c->halted = false;
	vm->stats.interrupts++;
	intr_external(vm, vector);
	return INTR_DELIVERED;
}

int intr_sleep(struct vm *vm, uint64_t until, bool (*ready)(struct vm *vm))
{
	while (vm->stop == STOP_NONE && !vm->rt.async_signal && !(vm->gdb && vm->rt.sigio)) {
		vm->rt.timer_fired = 0;
		devices_update(vm);
		if (ready(vm))
			return 0;
		int fds[5];                             /* asking may take input, and raise a line */
		int nfd = board_wait_fds(vm->board, fds, 4);
		int ndev = nfd;
		nfd += gdb_wait_fds(vm, fds + nfd, 1);  /* the debugger's socket wakes HLT too */
		if (ready(vm))
			return 0;
		uint64_t now = vclock_now(&vm->clock);
		if (until <= now)
			return 0;
		uint64_t d = vm->rt.timer_deadline < until ? vm->rt.timer_deadline : until;
		if (d == VCLOCK_NEVER && nfd == 0)
			return -1;
		struct timespec ts, *tsp = NULL;
		if (d != VCLOCK_NEVER) {
			uint64_t left = d > now ? d - now : 0;
			ts.tv_sec = (time_t)(left / 1000000000u);
			ts.tv_nsec = (long)(left % 1000000000u);
			tsp = &ts;
		}
		struct pollfd p[5];
		for (int k = 0; k < nfd; k++)
			p[k] = (struct pollfd){ .fd = fds[k], .events = POLLIN };
		vm->stats.halt_sleeps++;
		aspaces_idle(vm, true);
		ppoll(nfd ? p : NULL, (nfds_t)nfd, tsp, NULL);
		aspaces_idle(vm, false);
		if (nfd > ndev && p[ndev].revents)
			vm->rt.sigio = 1;       /* (without O_ASYNC there is no SIGIO to say so) */
	}
	return 0;
}

static bool intc_ready(struct vm *vm)
{
	return intc_pending(vm->intc) || (!vm->cpu.nmi_blocked && intc_nmi_pending(vm->intc));
}

void intr_halt(struct vm *vm)
{
	if (intr_sleep(vm, VCLOCK_NEVER, intc_ready) < 0)
		vm_stop(vm, STOP_GUEST_DEAD, 4, "guest halted at eip %#x and no device can wake it",
			vm->cpu.sh->eip - 1);
}
