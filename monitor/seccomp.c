/*
 * seccomp.c - the allow-list (see seccomp.h).
 */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
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

/* What libslirp calls on the host sockets it opens for the guest's connections, as
 * strace shows them for DHCP, ARP, ICMP, DNS, outgoing TCP and UDP and port forwarding
 * (tests/guests/netuser.c, tests/linux/net-test.sh). The listening sockets of the
 * port forwards are made before the sandbox. */
static const int socket_calls[] = {
	SCMP_SYS(connect), SCMP_SYS(accept), SCMP_SYS(shutdown), SCMP_SYS(getpeername),
	SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_ctl),
};
/* The rest of the socket API, which a path of libslirp not seen above might take: it
 * fails with EPERM, as a network error, and libslirp drops that connection instead of
 * the VM ending. */
static const int socket_calls_refused[] = {
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept4), SCMP_SYS(getsockname),
	SCMP_SYS(sendmsg), SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg), SCMP_SYS(socketpair),
};

/* The network back end's calls: the socket calls above; new sockets of the Internet
 * families only; FIONREAD (a UDP datagram's size); and opening files read-only, for
 * the DNS servers of /etc/resolv.conf, which libslirp reads when the guest first asks
 * 10.0.2.3 and again whenever the file changes. */
static int allow_sockets(scmp_filter_ctx ctx, bool gdb)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < sizeof(socket_calls) / sizeof(socket_calls[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, socket_calls[i], 0);
	for (size_t i = 0; r == 0 && i < sizeof(socket_calls_refused) / sizeof(socket_calls_refused[0]);
	     i++)
		if (!gdb || socket_calls_refused[i] != SCMP_SYS(accept4))       /* the stub's */
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), socket_calls_refused[i], 0);
	static const int families[] = { AF_INET, AF_INET6 };
	for (size_t i = 0; r == 0 && i < 2; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC,
					     O_RDONLY));
	return r;
}

/* The gdb stub, on its listening socket and the connection it accepts (gdbstub.c). */
static const int gdb_calls[] = { SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto) };

int sandbox_enter(bool sockets, bool gdb, const int *peers, int npeers)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int r;
	if (!ctx)
		return -ENOMEM;
	/* A call from another ABI (i386 from compatibility mode, x32) traps as well. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	/* The filter as a binary tree of syscall numbers, not a list tried in order: every
	 * host call runs it, and the hot ones (sched_yield at each vCPU hand-over, mprotect,
	 * mmap, rt_sigreturn) sat deep in the list (a probe: 20-80 ns a call down to 0-20,
	 * AMD EPYC Zen 5). The same rules either way. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* (recvfrom and sendto are among the network back end's calls already.) */
	for (size_t i = 0; gdb && r == 0 && i < sizeof(gdb_calls) / sizeof(gdb_calls[0]); i++)
		if (!sockets || gdb_calls[i] == SCMP_SYS(accept4))
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
	/* The processes of the VM (aspaces.c): signals passed on, the pin to one CPU,
	 * the first one's wait for the others' end. */
	for (int i = 0; r == 0 && i < npeers; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)peers[i]));
	for (int i = 0; r == 0 && i < npeers; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_setaffinity), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)peers[i]));
	if (r == 0 && npeers)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 0);
	if (r == 0 && npeers)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getcpu), 0);
	if (r == 0 && sockets)
		r = allow_sockets(ctx, gdb);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}
