/*
 * proc.c - processes and the scheduler (xv6's proc.c on one CPU, without locks: the
 * kernel runs with interrupts off, so nothing interleaves with it).
 *
 * A process has its own page directory and kernel stack. The scheduler runs on the
 * boot stack, picks the next RUNNABLE process round-robin, switches address space
 * and kernel stack (hal_switch) and swtch()es to it; a process gives the CPU back
 * with sched() (yield, sleep, exit). The timer tick preempts a process in user mode
 * (trap.c calls yield()). A new process starts in forkret, which returns into
 * trapret with the trapframe spawn built.
 *
 * Interface: proc_init(), proc_spawn(), then scheduler(); the system calls use
 * proc_exit, proc_wait, yield, sleep and wakeup.
 */
#include "defs.h"

static struct proc procs[NPROC];
static uint8_t kstacks[NPROC][KSTACK_SIZE] __attribute__((aligned(16)));
static struct context *sched_context;
static int nextpid = 1;
static struct proc *initproc;
static uint32_t loaded_pd;
static uint32_t nswitch, npreempt, nidle;    /* reported when init exits */
struct proc *curproc;
volatile uint32_t ticks;
extern void trapret(void);

void proc_init(void)
{
	for (int i = 0; i < NPROC; i++)
		procs[i].kstack = kstacks[i];
}

static void forkret(void)
{
	/* returns into trapret, below it on the new stack */
}

/* A new process with a fresh address space, entering user mode at eip with EAX and
 * EBX as given (the user side's start stub reads them); it inherits the caller's
 * descriptors. The pid, or -1. */
int proc_spawn(uint32_t eip, uint32_t eax, uint32_t ebx)
{
	struct proc *p = 0;
	for (int i = 0; i < NPROC; i++)
		if (procs[i].state == UNUSED) {
			p = &procs[i];
			break;
		}
	if (!p || !(p->pd = vm_create()))
		return -1;
	p->state = EMBRYO;
	p->pid = nextpid++;
	p->parent = curproc;
	p->brk = USER_HEAP;
	p->chan = 0;
	p->status = 0;

	uint8_t *sp = p->kstack + KSTACK_SIZE;
	sp -= sizeof(*p->tf);
	p->tf = (struct trapframe *)sp;
	memset(p->tf, 0, sizeof(*p->tf));
	p->tf->eip = eip;
	p->tf->eax = eax;
	p->tf->ebx = ebx;
	p->tf->cs = SEG_UCODE;
	p->tf->ss = SEG_UDATA;
	p->tf->eflags = FL_IF | 0x2;
	p->tf->esp = USTACK_TOP;
	sp -= 4;
	*(uint32_t *)sp = (uint32_t)trapret;
	sp -= sizeof(*p->context);
	p->context = (struct context *)sp;
	memset(p->context, 0, sizeof(*p->context));
	p->context->eip = (uint32_t)forkret;

	for (int i = 0; i < NOFILE; i++) {
		p->fd[i] = curproc ? curproc->fd[i] : (struct fd){ FD_NONE, 0 };
		if (p->fd[i].kind == FD_PIPE_R || p->fd[i].kind == FD_PIPE_W)
			pipe_dup(p->fd[i].pipe, p->fd[i].kind == FD_PIPE_W);
	}
	if (!curproc) {
		p->fd[1].kind = FD_CONSOLE;
		initproc = p;
	}
	p->state = RUNNABLE;
	return p->pid;
}

/* Gives the CPU to the scheduler; returns when this process is chosen again. */
static void sched(void)
{
	swtch(&curproc->context, sched_context);
}

void yield(void)
{
	curproc->state = RUNNABLE;
	sched();
}

/* The timer's preemption of a process in user mode (trap.c). */
void preempt(void)
{
	npreempt++;
	yield();
}

void sleep(void *chan)
{
	curproc->chan = chan;
	curproc->state = SLEEPING;
	sched();
	curproc->chan = 0;
}

void wakeup(void *chan)
{
	for (int i = 0; i < NPROC; i++)
		if (procs[i].state == SLEEPING && procs[i].chan == chan)
			procs[i].state = RUNNABLE;
}

void proc_exit(int status)
{
	struct proc *p = curproc;
	if (p == initproc) {
		kprintf("minik: init exited with %d; %u ticks, %u preemptions, %u switches, "
			"%u idles, %u pages free\n", status, ticks, npreempt, nswitch, nidle,
			kfree_count());
		hal_exit(status);
	}
	for (int i = 0; i < NOFILE; i++) {
		if (p->fd[i].kind == FD_PIPE_R || p->fd[i].kind == FD_PIPE_W)
			pipe_close(p->fd[i].pipe, p->fd[i].kind == FD_PIPE_W);
		p->fd[i].kind = FD_NONE;
	}
	for (int i = 0; i < NPROC; i++)
		if (procs[i].parent == p) {
			procs[i].parent = initproc;
			if (procs[i].state == ZOMBIE)
				wakeup(initproc);
		}
	p->status = status;
	p->state = ZOMBIE;
	wakeup(p->parent);
	sched();
	panic("zombie %d ran", p->pid);
}

/* Reaps an exited child: its pid (its status in *status), or -1 without children. */
int proc_wait(int *status)
{
	for (;;) {
		int children = 0;
		for (int i = 0; i < NPROC; i++) {
			struct proc *c = &procs[i];
			if (c->parent != curproc || c->state == UNUSED)
				continue;
			children = 1;
			if (c->state == ZOMBIE) {
				int pid = c->pid;
				*status = c->status;
				vm_free(c->pd);         /* not loaded: the caller's is */
				c->state = UNUSED;
				c->parent = 0;
				c->pid = 0;
				return pid;
			}
		}
		if (!children)
			return -1;
		sleep(curproc);
	}
}

/* The timer tick, interrupts off: counts; trap.c preempts a process in user mode. */
void proc_tick(void)
{
	ticks++;
	for (int i = 0; i < NPROC; i++)
		if (procs[i].state == SLEEPING && procs[i].wake && (int32_t)(ticks - procs[i].wake) >= 0)
			procs[i].state = RUNNABLE;
}

/* SYS_sleep: n timer ticks. */
int proc_sleep_ticks(uint32_t n)
{
	curproc->wake = ticks + n ? ticks + n : 1;
	while ((int32_t)(ticks - curproc->wake) < 0)
		sleep(&curproc->wake);
	curproc->wake = 0;
	return 0;
}

/* How many ticks no sleeper needs (the earliest wake - now), 0 if none waits on time:
 * then the next tick may matter to nobody, but a HAL cannot know, so 0 = "unknown". */
uint32_t proc_idle_ticks(void)
{
	uint32_t best = 0;
	for (int i = 0; i < NPROC; i++)
		if (procs[i].state == SLEEPING && procs[i].wake) {
			uint32_t left = procs[i].wake - ticks;
			if ((int32_t)left > 0 && (!best || left < best))
				best = left;
		}
	return best;
}

void scheduler(void)
{
	int last = NPROC - 1;
	for (;;) {
		struct proc *p = 0;
		for (int n = 1; n <= NPROC && !p; n++)
			if (procs[(last + n) % NPROC].state == RUNNABLE)
				p = &procs[(last + n) % NPROC];
		if (!p) {
			nidle++;
			hal_idle(proc_idle_ticks());
			continue;
		}
		last = p - procs;
		nswitch++;
		p->state = RUNNING;
		curproc = p;
		hal_switch(loaded_pd == p->pd ? 0 : p->pd, (uint32_t)p->kstack + KSTACK_SIZE);
		loaded_pd = p->pd;
		swtch(&sched_context, p->context);
		curproc = 0;
	}
}
