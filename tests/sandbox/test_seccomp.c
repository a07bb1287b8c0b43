/*
 * test_seccomp.c - the sandbox's allow-list (monitor/seccomp.c), as the kernel applies
 * it: each case forks a child that installs the filter, makes one kind of call and
 * exits 0 if it returned; the parent checks that it did, or that the call raised
 * SIGSYS (the child's handler exits 42: a trap, as the monitor's handler needs to
 * report the call, not a kill). The calls are made with syscall(2), so that no libc
 * wrapper takes another path.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "monitor/seccomp.h"

static void on_sigsys(int sig)
{
	(void)sig;
	_exit(42);
}

enum call { C_GETPID, C_YIELD, C_MPROTECT_BAD, C_SOCKET, C_IOCTL_TTY, C_IOCTL_OTHER,
	    C_KILL_PEER, C_KILL_OTHER, C_BIND, C_GETUID, C_I386 };

/* Run call in a sandboxed child: its wait status. sockets as sandbox_enter's; the
 * child's parent is its only peer. */
static int run(enum call call, bool sockets)
{
	int peer = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_DUMPABLE, 0);      /* no core files of the trapped ones */
		signal(SIGSYS, on_sigsys);
		if (sandbox_enter(sockets, false, &peer, 1) != 0)
			_exit(100);
		long r = 0;
		switch (call) {
		case C_GETPID: r = syscall(SYS_getpid) > 0 ? 0 : -1; break;
		case C_YIELD: r = syscall(SYS_sched_yield); break;
		case C_MPROTECT_BAD: r = syscall(SYS_mprotect, 1, 4096, 0) < 0 ? 0 : -1; break;
		case C_SOCKET: r = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); break;
		case C_IOCTL_TTY: {
			struct termios t;
			syscall(SYS_ioctl, -1, TCGETS, &t);     /* EBADF: it ran */
			break;
		}
		case C_IOCTL_OTHER: {
			int v = 1;
			syscall(SYS_ioctl, -1, FIONBIO, &v);
			break;
		}
		case C_KILL_PEER: r = syscall(SYS_kill, peer, 0); break;
		case C_KILL_OTHER: r = syscall(SYS_kill, 1, 0); break;
		case C_BIND: r = syscall(SYS_bind, -1, NULL, 0) < 0 && errno == EPERM ? 0 : -1; break;
		case C_GETUID: r = syscall(SYS_getuid); break;
		case C_I386: {
			/* The i386 ABI's getpid (20), as compatibility-mode code would call it:
			 * allowed in the 64-bit table, a bad architecture here. */
			long v = 20;
			__asm__ volatile("int $0x80" : "+a"(v) :: "memory");
			break;
		}
		}
		_exit(r == 0 ? 0 : 101);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static void allowed(enum call call, bool sockets)
{
	int st = run(call, sockets);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "call %d: status %#x", call, st);
}

static void trapped(enum call call, bool sockets)
{
	int st = run(call, sockets);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 42, "call %d: status %#x", call, st);
}

START_TEST(allows_what_the_monitor_calls)
{
	allowed(C_GETPID, false);
	allowed(C_YIELD, false);
	allowed(C_MPROTECT_BAD, false);
	allowed(C_IOCTL_TTY, false);
	allowed(C_KILL_PEER, false);
}
END_TEST

START_TEST(traps_the_rest)
{
	trapped(C_GETUID, false);
	trapped(C_SOCKET, false);
	trapped(C_IOCTL_OTHER, false);  /* ioctl: terminal requests only */
	trapped(C_KILL_OTHER, false);   /* kill: the VM's own processes only */
	trapped(C_BIND, false);
	trapped(C_I386, false);         /* the i386 ABI: every call */
}
END_TEST

START_TEST(sockets_refused_not_trapped)
{
	allowed(C_BIND, true);          /* the rest of the socket API: EPERM */
	trapped(C_GETUID, true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seccomp");
	TCase *tc = tcase_create("filter");
	tcase_add_test(tc, allows_what_the_monitor_calls);
	tcase_add_test(tc, traps_the_rest);
	tcase_add_test(tc, sockets_refused_not_trapped);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
