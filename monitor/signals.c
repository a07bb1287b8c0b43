/*
 * signals.c - fault handling for translated code (see signals.h).
 */
#define _GNU_SOURCE
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "console.h"
#include "aspaces.h"
#include "memop_native.h"
#include "segments.h"
#include "stubs.h"
#include "vm.h"
#include "../codecache/codecache.h"

#ifndef UC_STRICT_RESTORE_SS
#define UC_STRICT_RESTORE_SS 0x4
#endif

/* The VM of this thread, for the signal handlers only. */
static __thread struct vm *signal_vm;

/* This process's host timer (each process of a VM has its own: aspaces.c). */
static __thread timer_t kick_timer;
static __thread bool kick_timer_ok;

static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
				     SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGIO, SIGCHLD };

static bool is_async(int sig) { return sig == SIGINT || sig == SIGTERM || sig == SIGHUP; }

/* How long after a kick that could not find the running block it is tried again. */
#define KICK_RETRY_NS 100000

/*
 * Ask the guest to come back to the dispatcher soon: translated code checks VC_RUN at
 * every indirect branch, and the block it is in (or is about to enter) loses its
 * chains, so its next direct branch exits too. Every loop in translated code passes
 * through one or the other. A signal that lands between an indirect branch's VC_RUN
 * test and its jump finds the wrong block (the one it leaves): so while the guest
 * runs, the kick timer tries again until the dispatcher has the CPU back.
 */
static void kick(struct vm *vm, uint16_t cs, uint64_t rip)
{
	vm->cpu.sh->run = 0;
	struct block *b = NULL;
	if (cs == SEL_MCODE && rip >= CACHE_ADDR && rip < CACHE_END)
		b = cc_block_at(vm->cc, (uint32_t)rip);
	if (b)
		cc_unchain_exits(vm->cc, b);
	/* The dispatcher may be about to enter this block: rip is in tz_enter or before. */
	if (vm->rt.entering && vm->rt.entering != b)
		cc_unchain_exits(vm->cc, vm->rt.entering);
	if (vm->rt.entering && kick_timer_ok) {
		struct itimerspec its = { .it_value.tv_nsec = KICK_RETRY_NS };
		timer_settime(kick_timer, 0, &its, NULL);
		vm->rt.timer_deadline = 0;         /* the dispatcher arms it anew */
		vm->stats.kick_retries++;
	}
}

static void die(const char *what, int sig, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	/* Async-signal-safe enough: we are leaving. */
	console_restore();
	dprintf(2, "trapeze: internal error: %s (signal %d, rip %#llx, cs %#llx, trap %lld, addr %#llx)\n",
		what, sig, (unsigned long long)g[REG_RIP], (unsigned long long)(g[REG_CSGSFS] & 0xffff),
		(long long)g[REG_TRAPNO], (unsigned long long)g[REG_CR2]);
	_exit(6);
}

/* Redirect the interrupted context to tz_fault_return: 64-bit code on the host stack. */
static void return_to_monitor(struct vm *vm, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	g[REG_RIP] = (greg_t)(uintptr_t)tz_fault_return;
	g[REG_RSP] = (greg_t)vm->cpu.sh->host_rsp;
	g[REG_EFL] = FL_IF | FL_1;
	g[REG_CSGSFS] = (g[REG_CSGSFS] & 0x0000ffffffff0000ll) | HOST_CS64 | (greg_t)HOST_DS << 48;
	uc->uc_flags |= UC_STRICT_RESTORE_SS;
	vm->cpu.sh->exit = EXIT_FAULT << EXIT_SHIFT;
}

/* Called by tz_sigtramp; returns 1 to resume translated code (reload guest FS). */
int tz_signal(int sig, siginfo_t *si, ucontext_t *uc);
int tz_signal(int sig, siginfo_t *si, ucontext_t *uc)
{
	struct vm *vm = signal_vm;
	greg_t *g = uc->uc_mcontext.gregs;
	uint16_t cs = (uint16_t)(g[REG_CSGSFS] & 0xffff);
	uint64_t rip = (uint64_t)g[REG_RIP];

	if (!vm)
		die("signal without a VM", sig, uc);
	if (sig == SIGCHLD) {
		aspaces_child_died(vm);         /* returns if the VM is ending anyway */
		return 1;
	}
	if ((is_async(sig) || sig == SIGALRM || sig == SIGIO) && aspaces_forward(vm, sig))
		return 1;       /* another process runs the guest: it has the signal now */
	if (is_async(sig)) {
		vm->rt.async_signal = sig;
		kick(vm, cs, rip);
		return 1;
	}
	if (sig == SIGALRM || sig == SIGIO) {
		/* A device deadline, COM1 input, or a kick tried again: the dispatcher
		 * looks at the devices next and arms the timer anew. */
		vm->rt.timer_fired = 1;
		vm->rt.timer_deadline = 0;
		if (sig == SIGIO)
			vm->rt.sigio = 1;
		if (vm->rt.entering)
			kick(vm, cs, rip);
		return 1;
	}
	/* A segment load of a shadow this process's LDT lacks yet (segments.c). */
	if ((sig == SIGSEGV || sig == SIGBUS) &&
	    seg_ldt_fault(vm, (int)g[REG_TRAPNO], (uint32_t)g[REG_ERR]))
		return 1;
	uint64_t resume, rsp;
	if (cs == HOST_CS64 && memop_native_catch(sig, rip, (uint32_t)g[REG_ERR],
						  (uint64_t)(uintptr_t)si->si_addr, &resume, &rsp)) {
		/* The host CPU's fault on memop's copy of an operand: the run's result. */
		g[REG_RIP] = (greg_t)resume;
		g[REG_RSP] = (greg_t)rsp;
		g[REG_RAX] = g[REG_TRAPNO] + 1;
		g[REG_EFL] = FL_IF | FL_1;
		return 0;
	}
	if (cs == SEL_MCODE && rip >= CACHE_ADDR && rip < CACHE_END) {
		struct vcpu_shared *sh = vm->cpu.sh;
		struct block *b = cc_block_at(vm->cc, (uint32_t)rip);
		const struct side_entry *se = b ? cc_side_lookup(b, (uint32_t)rip) : NULL;
		if (!se)
			die("fault in the code cache outside any block", sig, uc);
		if (sig == SIGSYS)
			die("a host system call from translated code", sig, uc);
		static const int order[8] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX,
					      REG_RSP, REG_RBP, REG_RSI, REG_RDI };
		for (int r = 0; r < 8; r++)
			sh->regs[r] = (uint32_t)g[order[r]];
		if (se->flags & SIDE_SCRATCH) {
			sh->regs[R_EAX] = sh->save_eax;
			sh->regs[R_ECX] = sh->save_ecx;
		}
		if (se->flags & SIDE_SAVED_REG)
			sh->regs[(se->flags >> 4) & 7] = sh->save_eax;
		sh->eflags = (uint32_t)g[REG_EFL];
		sh->eip = se->eip;
		vm->rt.fault.sig = sig;
		vm->rt.fault.code = si->si_code;
		vm->rt.fault.trapno = (int)g[REG_TRAPNO];
		vm->rt.fault.err = (uint32_t)g[REG_ERR];
		vm->rt.fault.addr = (uint64_t)(uintptr_t)si->si_addr;
		vm->rt.fault.host_eip = (uint32_t)rip;
		vm->rt.fault.side = se->flags;
		return_to_monitor(vm, uc);
		return 0;
	}
	if (rip == (uint64_t)(uintptr_t)tz_enter_iret) {
		/* The very entry into compatibility mode failed. */
		vm->rt.fault.sig = sig;
		vm->rt.fault.trapno = -1;
		vm->rt.fault.code = (int)g[REG_TRAPNO];
		vm->rt.fault.err = (uint32_t)g[REG_ERR];
		return_to_monitor(vm, uc);
		return 0;
	}
	if (sig == SIGSYS) {
		console_restore();
		dprintf(2, "trapeze: internal error: the sandbox refused system call %d (arch %#x)\n",
			si->si_syscall, si->si_arch);
		_exit(6);
	}
	die(cs == SEL_MCODE ? "fault in a monitor stub" : "fault in the monitor", sig, uc);
	return 0;
}

/* This process's host timer: SIGALRM to this thread. */
int signals_timer_init(void)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &kick_timer) < 0)
		return -errno;
	kick_timer_ok = true;
	return 0;
}

bool signals_timer_ok(void)
{
	return kick_timer_ok;
}

void signals_timer_set(int flags, const struct itimerspec *its)
{
	if (kick_timer_ok)
		timer_settime(kick_timer, flags, its, NULL);
}

int signals_init(struct vm *vm)
{
	size_t size = getauxval(AT_MINSIGSTKSZ);
	if (size < (size_t)SIGSTKSZ)
		size = SIGSTKSZ;
	size = size * 4 + 65536;
	/* Private memory (not the shared heap): each process of the VM takes its
	 * signals on a stack of its own at the same address. */
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack == MAP_FAILED)
		return -ENOMEM;
	vm->rt.altstack = stack;
	vm->rt.altstack_size = size;
	stack_t ss = { .ss_sp = stack, .ss_size = size };
	if (sigaltstack(&ss, NULL) < 0)
		return -errno;
	signal_vm = vm;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))tz_sigtramp;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
		if (sigaction(fault_signals[i], &sa, NULL) < 0)
			return -errno;
	/* SIGALRM to this thread: the kick's retry. */
	return signals_timer_init();
}

void signals_exit(struct vm *vm)
{
	if (kick_timer_ok)
		timer_delete(kick_timer);
	kick_timer_ok = false;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
		sigaction(fault_signals[i], &sa, NULL);
	stack_t ss = { .ss_flags = SS_DISABLE };
	sigaltstack(&ss, NULL);
	if (vm->rt.altstack)
		munmap(vm->rt.altstack, vm->rt.altstack_size);
	vm->rt.altstack = NULL;
	signal_vm = NULL;
}
