/*
 * nano_native.c - the nanobenchmarks (nano.h) as a static 32-bit Linux program: the same
 * loops as the guest (nano_loops.S), run in user mode, printing the guest's lines.
 *
 * The native analogues of the guest's kernel paths: syscall is INT 0x80 with EAX =
 * getpid, a real round trip through Linux's i386 entry; divzero is a real #DE that the
 * kernel turns into a SIGFPE, whose handler steps EIP over the DIV in the saved context
 * and returns through sigreturn. pgfault and touch64m write one byte to each page of a
 * fresh anonymous mapping (one per round; huge pages off, so each write is a first-touch
 * fault the host kernel serves with a zeroed 4 KiB page). IN and CLI/STI fault at CPL 3
 * with IOPL 0, and a process can neither change its PTEs nor load CR3 (ptemod, ctxsw), so
 * they print `-`. `--small` divides the counts by NANO_SMALL_DIV, as NANO_SMALL=1 does.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include "nano.h"

static const struct {
	const char *name;
	void (*loop)(uint32_t);
	uint32_t n, round;
	int native;
} ops[] = {
#define NANO_ENTRY(name, n, ring, native, round) { #name, nano_##name, n, round, native },
	NANO_OPS(NANO_ENTRY)
#undef NANO_ENTRY
};

static void on_sigfpe(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_EIP] += 2;   /* DIV ECX: F7 F1 */
}

/* The fresh anonymous memory of a pgfault or touch64m round: k pages at nano_arg_base. */
static void *region;
static size_t region_len;

static void unmap_region(void)
{
	if (region)
		munmap(region, region_len);
	region = NULL;
}

/* Before each round of op (k iterations): for the page-touching ops, a new mapping. */
static int prepare(enum nano_op op, uint32_t k)
{
	if (op != NANO_OP_pgfault && op != NANO_OP_touch64m)
		return 0;
	unmap_region();
	region_len = (size_t)k * 4096;
	region = mmap(NULL, region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		region = NULL;
		perror("mmap");
		return -1;
	}
	madvise(region, region_len, MADV_NOHUGEPAGE);   /* may fail without THP: fine */
	nano_arg_base = (uint32_t)region;
	return 0;
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
		uint32_t round = ops[i].round ? ops[i].round : n;
		uint64_t base = 0, t = 0;
		for (uint32_t done = 0, k; done < n; done += k) {
			k = n - done < round ? n - done : round;
			if (prepare(i, k))
				return 1;
			base += timed(nano_empty, k);
			t += timed(ops[i].loop, k);
		}
		unmap_region();
		int neg;
		uint32_t x = nano_tenths(t, base, n, &neg);
		printf("NANO %s %s%u.%u\n", ops[i].name, neg ? "-" : "", x / 10, x % 10);
	}
	printf("NANO-DONE\n");
	return 0;
}
