/*
 * seccomp.c - the allow-list (see seccomp.h).
 */
#include "seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(close),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(fdatasync),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek),
	SCMP_SYS(fcntl), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
	SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(modify_ldt), SCMP_SYS(arch_prctl),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(futex), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(getrandom),
	SCMP_SYS(sched_yield), SCMP_SYS(sysinfo), SCMP_SYS(timer_settime), SCMP_SYS(timer_delete),
};

/* The gdb stub, on its listening socket and the connection it accepts (gdbstub.c). */
static const int gdb_calls[] = { SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto) };

int sandbox_enter(bool gdb)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int r;
	if (!ctx)
		return -ENOMEM;
	/* A call from another ABI (i386 from compatibility mode, x32) traps as well. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	for (size_t i = 0; gdb && r == 0 && i < sizeof(gdb_calls) / sizeof(gdb_calls[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, gdb_calls[i], 0);
	/* Terminal ioctls only (stdio asks whether a descriptor is a terminal; the
	 * console sets raw mode), and signals only to this process (abort, raise). */
	static const unsigned long tty_ioctls[] = { TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ };
	for (size_t i = 0; r == 0 && i < sizeof(tty_ioctls) / sizeof(tty_ioctls[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, tty_ioctls[i]));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}
