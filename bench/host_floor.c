/*
 * host_floor.c - what the host charges for the calls trapeze's shadow MMU is made of, in
 * cycles (RDTSC), the minimum of a few rounds: the floor under the paging
 * nanobenchmarks (bench/nano.sh prints it under its table; bench/README.md).
 *
 *   syscall        getppid(): a system call and back
 *   mprotect       one page between PROT_READ and PROT_NONE
 *   mmap           a page of a memfd mapped MAP_FIXED over another (what INVLPG and a
 *                  CR3 load cost trapeze for a changed page)
 *   remap          the same over a page that was read since, then read: the old page
 *                  table entry goes, the new one comes with the read's minor fault in
 *                  the host kernel (what nano's ptemod cannot cost less than)
 *   park           a page of a memfd, written, made PROT_NONE and given back read-write,
 *                  then written: the host's page-table entry stays under PROT_NONE, so
 *                  the write takes no fault (what a parked page costs trapeze, taken
 *                  away and given back: shadowmmu/mmu.c, park_run)
 *   signal         a SIGSEGV on a PROT_NONE page, its handler steps over the access
 *   signal+mmap    a SIGSEGV whose handler maps the page (a memfd page, MAP_FIXED),
 *                  the access then retried: what a guest page fault cannot cost less
 *   handoff        a futex word handed to another process and back, both pinned to
 *                  one CPU, per hand-over (half a round trip): what handing the vCPU
 *                  to another address space's process costs at least
 *                  (monitor/aspaces.c), when the taker sleeps on its futex word
 *   handoff-yield  the same when the taker polls by sched_yield() (the giver stores the
 *                  word and yields): the hand-over to an address space's process that
 *                  gave the vCPU away less than 2 ms before
 *
 * A 64-bit program: trapeze's own handlers run in 64-bit mode too (the fault comes from
 * 32-bit code there, which this does not reproduce).
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include <x86intrin.h>

#define PAGE   4096
#define N      4000             /* operations per round */
#define ROUNDS 5

static int memfd;
static char *area;              /* N pages, PROT_NONE at the start of a round */
static int map_in_handler;      /* 1: the handler maps the page; 0: it skips the access */

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	if (map_in_handler) {
		void *page = (void *)((uintptr_t)si->si_addr & ~(uintptr_t)(PAGE - 1));
		if (mmap(page, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, 0) ==
		    MAP_FAILED)
			_exit(2);
		return;
	}
	/* The faulting access is `movb $1, (%rax)`: c6 00 01, 3 bytes. */
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP] += 3;
}

static void touch(char *p) { __asm__ volatile("movb $1, (%0)" :: "a"(p) : "memory"); }

static void reset_area(void)
{
	if (mmap(area, (size_t)N * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
		 MAP_NORESERVE, -1, 0) == MAP_FAILED) {
		perror("host_floor: mmap");
		exit(1);
	}
}

/* One round of op; returns cycles per operation. */
static uint64_t round_of(int op)
{
	reset_area();
	uint64_t t0 = __rdtsc();
	for (int i = 0; i < N; i++) {
		char *p = area + (size_t)i * PAGE;
		switch (op) {
		case 0: syscall(SYS_getppid); break;
		case 1: mprotect(area, PAGE, i & 1 ? PROT_NONE : PROT_READ); break;
		case 2: mmap(area, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, memfd, (i & 1) * PAGE); break;
		case 3: map_in_handler = 0; touch(area); break;
		case 4: map_in_handler = 1; touch(p); break;
		case 5:
			mmap(area, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, memfd, (i & 1) * PAGE);
			(void)*(volatile char *)area;
			break;
		case 6:
			if (i == 0) {
				mmap(area, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				     memfd, 0);
				touch(area);
			}
			mprotect(area, PAGE, PROT_NONE);
			mprotect(area, PAGE, PROT_READ | PROT_WRITE);
			touch(area);
			break;
		}
	}
	return (__rdtsc() - t0) / N;
}

static long futex(volatile int *w, int op, int v)
{
	return syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

/* Cycles per hand-over of a shared word between this process and a child, both on the
 * CPU this one runs on; by futex, or (yield) by sched_yield() polling. */
static uint64_t handoff(bool yield)
{
	volatile int *turn = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				  -1, 0);
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	if (turn == MAP_FAILED || sched_setaffinity(0, sizeof(one), &one) < 0)
		return 0;
	*turn = 0;
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < N; i++) {
			while (*turn != 1)
				yield ? sched_yield() : futex(turn, FUTEX_WAIT, 0);
			*turn = 0;
			yield ? sched_yield() : futex(turn, FUTEX_WAKE, 1);
		}
		_exit(0);
	}
	uint64_t t0 = __rdtsc();
	for (int i = 0; i < N; i++) {
		*turn = 1;
		yield ? sched_yield() : futex(turn, FUTEX_WAKE, 1);
		while (*turn != 0)
			yield ? sched_yield() : futex(turn, FUTEX_WAIT, 1);
	}
	uint64_t c = (__rdtsc() - t0) / (2 * N);
	waitpid(child, NULL, 0);
	munmap((void *)turn, PAGE);
	return c;
}

int main(void)
{
	static const char *const names[] = { "syscall", "mprotect", "mmap", "signal", "signal+mmap",
					     "remap", "park" };
	memfd = memfd_create("host_floor", 0);
	area = mmap(NULL, (size_t)N * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (memfd < 0 || ftruncate(memfd, 2 * PAGE) < 0 || area == MAP_FAILED) {
		perror("host_floor");
		return 1;
	}
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };
	sigaction(SIGSEGV, &sa, NULL);
	for (int op = 0; op < 7; op++) {
		uint64_t best = UINT64_MAX;
		for (int r = 0; r < ROUNDS; r++) {
			uint64_t c = round_of(op);
			best = c < best ? c : best;
		}
		printf("FLOOR %s %llu\n", names[op], (unsigned long long)best);
	}
	for (int yield = 0; yield < 2; yield++) {
		uint64_t best = UINT64_MAX;
		for (int r = 0; r < ROUNDS; r++) {
			uint64_t c = handoff(yield);
			best = c && c < best ? c : best;
		}
		printf("FLOOR %s %llu\n", yield ? "handoff-yield" : "handoff",
		       (unsigned long long)best);
	}
	return 0;
}
