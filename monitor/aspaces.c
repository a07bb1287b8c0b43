/*
 * aspaces.c - guest address spaces in host processes (see aspaces.h).
 *
 * The processes are clones without CLONE_VM (each has its own page tables: the point)
 * but with CLONE_FILES (a socket or file one opens is everyone's). All state they
 * share is in shared memory (sharedmem.c); what each keeps to itself is in
 * thread-local variables (its index here, its host timer, its LDT's catch-up count)
 * and in its host state: its mappings of the guest's linear space, its LDT, its
 * segment registers and x87/SSE registers, its signal stack.
 *
 * A hand-over: the giver saves the guest's x87/SSE state into the vCPU block (it is
 * live in the registers between exits), marks the taker as running and wakes it by
 * its futex word, then sleeps on its own. The taker catches its LDT up, drops its
 * data segment registers (their selectors may name entries that changed) and takes
 * its mappings back (mmu_slot_enter). The host timer the giver armed stays armed:
 * when it fires, the giver passes the signal on; a process arms its own timer only
 * when the next deadline changes (a disarm and a re-arm at every hand-over cost two
 * system calls). The processes are pinned to one host CPU (pin_update).
 */
#define _GNU_SOURCE
#include "aspaces.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "fpu.h"
#include "seccomp.h"
#include "segments.h"
#include "signals.h"
#include "vm.h"
#include "../shadowmmu/mmu.h"

struct aspaces {
	int n;
	volatile int running;           /* the index of the process with the vCPU */
	volatile int turn[MMU_SLOTS];   /* futex words: 1 = this process takes the vCPU */
	volatile int go[MMU_SLOTS];     /* start-up: 1 = install your sandbox */
	volatile int ready[MMU_SLOTS];  /* start-up: 1 = done, -errno = failed */
	pid_t pid[MMU_SLOTS];
	bool pinned;
	uint64_t pin_since;             /* host ns: when pinned, or set free */
	cpu_set_t allowed;              /* the affinity the VM started with */
	volatile bool ending;           /* the VM stopped: the others are ended next */
	volatile bool idle;             /* the runner sleeps in HLT: pollers sleep too */
};

static __thread int self;               /* this process's index */
static __thread bool first_turn;        /* taken, but not yet taken() */

static void futex_wait(volatile int *w, int val)
{
	syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void futex_wake(volatile int *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

int aspaces_count(const struct vm *vm)
{
	return vm->asp ? vm->asp->n : 1;
}

/* A new process: dies with the first, has a host timer of its own. */
static void child_setup(struct vm *vm, int k)
{
	struct aspaces *a = vm->asp;
	self = k;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != a->pid[0])
		_exit(6);       /* the first died before the line above */
	if (signals_timer_init() < 0) {
		fprintf(stderr, "trapeze: cannot make a host timer for an address-space process\n");
		_exit(6);
	}
}

static void wait_turn(struct aspaces *a);
static bool pin_here(struct aspaces *a);
static uint64_t now_ns(void);
static uint64_t coarse_ns(void);

/* The sandbox for this process, knowing every pid of the VM. */
static int sandbox(struct vm *vm, bool sockets, bool gdb)
{
	struct aspaces *a = vm->asp;
	int peers[MMU_SLOTS];
	for (int k = 0; a && k < a->n; k++)
		peers[k] = a->pid[k];
	return sandbox_enter(sockets, gdb, peers, a ? a->n : 0);
}

/* A new process, once every pid is known: its sandbox, then its first turn. Until
 * the first process lets it go on, it touches nothing shared; while it installs its
 * filter (libseccomp allocates), the first waits. */
static void child_start(struct vm *vm, int k, bool sockets, bool gdb)
{
	struct aspaces *a = vm->asp;
	child_setup(vm, k);
	while (!__atomic_load_n(&a->go[k], __ATOMIC_ACQUIRE))
		futex_wait(&a->go[k], 0);
	int r = sandbox(vm, sockets, gdb);
	a->ready[k] = r < 0 ? r : 1;
	futex_wake(&a->ready[k]);
	if (r < 0)
		_exit(6);
	wait_turn(a);
	first_turn = true;
}

int aspaces_start(struct vm *vm, int n, bool sockets, bool gdb)
{
	if (n <= 1 || !vm->mmu)
		return sandbox(vm, sockets, gdb);
	if (n > MMU_SLOTS)
		n = MMU_SLOTS;
	struct aspaces *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->n = n;
	a->pid[0] = getpid();
	if (sched_getaffinity(0, sizeof(a->allowed), &a->allowed) < 0)
		CPU_ZERO(&a->allowed);
	vm->asp = a;
	mmu_set_slots(vm->mmu, n);
	/* Born where this one runs (pin_update says why). */
	a->pinned = pin_here(a);
	a->pin_since = coarse_ns();
	for (int k = 1; k < n; k++) {
		long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, NULL, NULL, NULL, NULL);
		if (pid < 0) {
			int e = errno;
			aspaces_stop(vm);
			return -e;
		}
		if (pid == 0) {
			child_start(vm, k, sockets, gdb);
			return 0;       /* its first turn */
		}
		a->pid[k] = (pid_t)pid;
		if (vm->perf_map) {
			/* perf looks a sample's code up by its process: one map for all. */
			char from[64], to[64];
			snprintf(from, sizeof(from), "perf-%d.map", (int)a->pid[0]);
			snprintf(to, sizeof(to), "/tmp/perf-%d.map", (int)pid);
			if (symlink(from, to) < 0)
				fprintf(stderr, "trapeze: --perf-map: cannot link %s: %s\n", to,
					strerror(errno));
		}
	}
	/* One at a time, each installs its sandbox, then this one. */
	for (int k = 1; k < n; k++) {
		__atomic_store_n(&a->go[k], 1, __ATOMIC_RELEASE);
		futex_wake(&a->go[k]);
		while (!__atomic_load_n(&a->ready[k], __ATOMIC_ACQUIRE))
			futex_wait(&a->ready[k], 0);
		if (a->ready[k] < 0) {
			int e = a->ready[k];
			aspaces_stop(vm);
			return e;
		}
	}
	return sandbox(vm, sockets, gdb);
}

/*
 * Where the processes run. Pinned to one CPU, a hand-over wakes the taker there
 * (6,200 cycles; 18,000-36,000 across CPUs). But pinned for good, two VMs pinned to
 * one CPU stay there while another idles: so every PIN_HOLD_NS the process running
 * the guest (the VM's one runnable process) is set free for PIN_FREE_NS, for the
 * scheduler to move it, and all are pinned again where it is then. The others stay
 * where they were: set free too, they woke on whichever CPU was idle at a hand-over,
 * and a process that ran on a CPU once pays an IPI to it at each LDT write from then
 * on (the host's modify_ldt reloads the LDT on every CPU in the process's mm mask,
 * which it trims at most once a second: 5,400 IPIs in 600 fork+exec, 92% of them
 * LDT writes). For the same reason they are born pinned (aspaces_start).
 */
#define PIN_HOLD_NS 1000000000ull
#define PIN_FREE_NS 20000000ull

static uint64_t clock_ns(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static uint64_t coarse_ns(void) { return clock_ns(CLOCK_MONOTONIC_COARSE); }

static void set_affinity(struct aspaces *a, const cpu_set_t *cpus)
{
	for (int k = 0; k < a->n; k++)
		if (a->pid[k])
			sched_setaffinity(a->pid[k], sizeof(*cpus), cpus);
}

/* Pin the calling process and all others to the CPU it runs on (false if unknown). */
static bool pin_here(struct aspaces *a)
{
	int cpu = sched_getcpu();
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return false;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	set_affinity(a, &one);
	return true;
}

/* At each hand-over: the decisions are a second's and 20 ms's, so the host's tick
 * will do (the coarse clock is a read of the vDSO's page, without a TSC read). */
static void pin_update(struct aspaces *a)
{
	uint64_t now = coarse_ns();
	if (a->pinned && now - a->pin_since > PIN_HOLD_NS) {
		sched_setaffinity(a->pid[self], sizeof(a->allowed), &a->allowed);
		a->pinned = false;
		a->pin_since = now;
	} else if (!a->pinned && now - a->pin_since > PIN_FREE_NS) {
		a->pinned = true;       /* (unknown CPU: hand-overs may cross, slower) */
		a->pin_since = now;
		pin_here(a);
	}
}

/*
 * A process that gave the vCPU away polls for its next turn for a while, by
 * sched_yield() (all the VM's processes are on one CPU: the yield runs the taker),
 * and sleeps on its futex word only after that. A hand-over to a polling process is
 * a store and a yield, ~40% cheaper than a futex wake plus wait (AMD EPYC Zen 5:
 * ~3,830 against ~6,220 cycles, build/bench/host-floor), and the address spaces a
 * guest switches between often (a pipe's two ends) are those still polling. A
 * poller takes little CPU: the yield gives the CPU up until the runner's slice ends
 * (the host scheduler's tick); it sleeps after POLL_NS, or at once when the vCPU
 * sleeps in HLT (aspaces_idle).
 */
#define POLL_NS 2000000ull

enum { TURN_SLEEPING = 0, TURN_YOURS = 1, TURN_POLLING = 2 };

static void wait_turn(struct aspaces *a)
{
	volatile int *w = &a->turn[self];
	int was = TURN_SLEEPING;
	if (__atomic_compare_exchange_n(w, &was, TURN_POLLING, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		/* The clock only once a yield came back without the turn: a ping-pong
		 * between two address spaces reads none. */
		uint64_t since = 0;
		for (;;) {
			sched_yield();
			if (__atomic_load_n(w, __ATOMIC_ACQUIRE) != TURN_POLLING || a->idle)
				break;
			uint64_t now = now_ns();
			if (!since)
				since = now;
			else if (now - since > POLL_NS)
				break;
		}
		was = TURN_POLLING;
		__atomic_compare_exchange_n(w, &was, TURN_SLEEPING, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
	}
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != TURN_YOURS)
		futex_wait(w, TURN_SLEEPING);
	__atomic_store_n(w, TURN_SLEEPING, __ATOMIC_RELAXED);
}

static void give_turn(struct aspaces *a, int to)
{
	a->running = to;
	if (__atomic_exchange_n(&a->turn[to], TURN_YOURS, __ATOMIC_ACQ_REL) == TURN_SLEEPING)
		futex_wake(&a->turn[to]);
}

/* This process has the vCPU now: its host state as the guest's needs it. */
static void taken(struct vm *vm)
{
	if (vm->asp->ending)
		return;
	if (seg_ldt_sync(vm) < 0) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "modify_ldt failed in an address-space process: %s",
			strerror(errno));
		return;
	}
	/* ES, DS and GS keep the selectors of this process's last turn: only this
	 * process writes its LDT, and the catch-up above nulls them when it rewrites. */
	mmu_slot_enter(vm->mmu, self);
	/* The host timer stays the giver's until a deadline changes: when it fires
	 * there, the giver passes SIGALRM on (aspaces_forward). */
}

void aspaces_first_turn(struct vm *vm)
{
	if (first_turn) {
		first_turn = false;
		taken(vm);
	}
}

bool aspaces_switch(struct vm *vm)
{
	int to = mmu_slot_wanted(vm->mmu);
	struct aspaces *a = vm->asp;
	if (to < 0 || !a)
		return false;
	fpu_save();
	pin_update(a);
	vm->stats.handoffs++;
	give_turn(a, to);
	wait_turn(a);
	taken(vm);
	return true;
}

void aspaces_idle(struct vm *vm, bool idle)
{
	if (vm->asp)
		vm->asp->idle = idle;
}

void aspaces_end(struct vm *vm)
{
	struct aspaces *a = vm->asp;
	if (!a || self == 0)
		return;
	fpu_save();
	a->ending = true;
	give_turn(a, 0);
	for (;;)
		futex_wait(&a->turn[self], 0);
}

void aspaces_stop(struct vm *vm)
{
	struct aspaces *a = vm->asp;
	if (!a || self != 0)
		return;
	a->ending = true;
	for (int k = 1; k < a->n; k++)
		if (a->pid[k] > 0) {
			kill(a->pid[k], SIGKILL);
			waitpid(a->pid[k], NULL, 0);
			a->pid[k] = 0;
		}
}

bool aspaces_forward(struct vm *vm, int sig)
{
	struct aspaces *a = vm->asp;
	if (!a || a->running == self || a->ending)
		return false;
	kill(a->pid[a->running], sig);
	return true;
}

void aspaces_child_died(struct vm *vm)
{
	struct aspaces *a = vm->asp;
	if (!a || self != 0 || a->ending)
		return;
	int st;
	pid_t p = waitpid(-1, &st, WNOHANG);
	if (p <= 0)
		return;
	console_restore();
	if (WIFSIGNALED(st))
		dprintf(2, "trapeze: internal error: an address-space process died of signal %d\n",
			WTERMSIG(st));
	else
		dprintf(2, "trapeze: an address-space process ended (status %d)\n", WEXITSTATUS(st));
	_exit(6);
}
