/*
 * nano_native.c - the nanobenchmarks (nano.h) as a static 32-bit Linux program: the same
 * loops as the guest (nano_loops.S), run in user mode, printing the guest's lines.
 *
 * The native analogues of the guest's kernel paths: syscall is INT 0x80 with EAX =
 * getpid, a real round trip through Linux's i386 entry; divzero is a real #DE that the
 * kernel turns into a SIGFPE, whose handler steps EIP over the DIV in the saved context
 * and returns through sigreturn. IN and CLI/STI fault at CPL 3 with IOPL 0, so they
 * print `-`. `--small` divides the counts by NANO_SMALL_DIV, as NANO_SMALL=1 does.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include "nano.h"

static const struct {
	const char *name;
	void (*loop)(uint32_t);
	uint32_t n;
	int native;
} ops[] = {
#define NANO_ENTRY(name, n, ring, native) { #name, nano_##name, n, native },
	NANO_OPS(NANO_ENTRY)
#undef NANO_ENTRY
};

static void on_sigfpe(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_EIP] += 2;   /* DIV ECX: F7 F1 */
}

static uint64_t timed(void (*loop)(uint32_t), uint32_t n)
{
	uint64_t t0 = nano_rdtsc();
	loop(n);
	return nano_rdtsc() - t0;
}

int main(int argc, char **argv)
{
	int small = argc > 1 && !strcmp(argv[1], "--small");
	struct sigaction sa;

	if (argc > 2 || (argc == 2 && !small)) {
		fprintf(stderr, "usage: %s [--small]\n", argv[0]);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigfpe;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGFPE, &sa, NULL)) {
		perror("sigaction SIGFPE");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("NANO-START native size=%s\n", small ? "small" : "full");
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		uint32_t n = small ? ops[i].n / NANO_SMALL_DIV : ops[i].n;
		if (!ops[i].native) {
			printf("NANO %s -\n", ops[i].name);
			continue;
		}
		uint64_t base = timed(nano_empty, n);
		uint64_t t = timed(ops[i].loop, n);
		int neg;
		uint32_t x = nano_tenths(t, base, n, &neg);
		printf("NANO %s %s%u.%u\n", ops[i].name, neg ? "-" : "", x / 10, x % 10);
	}
	printf("NANO-DONE\n");
	return 0;
}
