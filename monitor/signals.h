/*
 * signals.h - host signals while guest code runs.
 *
 * Every handler is entered through tz_sigtramp (enter.S), which restores the host FS
 * base first. A fault in translated code is turned into an exit (EXIT_FAULT) with the
 * guest's registers and the EIP of the faulting guest instruction (from the block's
 * side table). A fault anywhere else is a monitor bug and ends the process with a
 * message. The handlers find their VM through one per-thread pointer.
 */
#ifndef TRAPEZE_SIGNALS_H
#define TRAPEZE_SIGNALS_H

#include <stdbool.h>
#include <time.h>

struct vm;

/* Install the handlers and the alternate stack for this thread's VM; negative errno. */
int signals_init(struct vm *vm);
void signals_exit(struct vm *vm);

/* The host timer of this process (SIGALRM to its thread): signals_init() makes the
 * first process's, signals_timer_init() another process's (aspaces.c). */
int signals_timer_init(void);
bool signals_timer_ok(void);
void signals_timer_set(int flags, const struct itimerspec *its);

#endif
