/*
 * trap.c - the common trap handler: every exception, interrupt and system call
 * arrives here with the x86 frame (hal.h), whichever HAL built it. Page faults in
 * user mode are demand paging or kill the process; the timer tick preempts a
 * process in user mode; a trap in the kernel that is not an interrupt is a bug.
 */
#include "defs.h"

static int from_user(struct trapframe *tf)
{
	return (tf->cs & 3) == 3;
}

static void kill(struct trapframe *tf, uint32_t addr)
{
	kprintf("minik: pid %d killed: trap %u error %x eip %x addr %x\n",
		curproc->pid, tf->trapno, tf->err, tf->eip, addr);
	proc_exit(-1);
}

void trap(struct trapframe *tf)
{
	if (tf->trapno == T_SYSCALL) {
		syscall(tf);
		return;
	}
	if (tf->trapno >= 32) {
		hal_interrupt(tf);
		if (tf->trapno == T_TIMER && from_user(tf) && curproc)
			preempt();
		return;
	}
	uint32_t addr = tf->trapno == T_PGFLT ? hal_fault_addr() : 0;
	if (!from_user(tf))
		panic("trap %u in the kernel: error %x eip %x addr %x", tf->trapno,
		      tf->err, tf->eip, addr);
	if (tf->trapno == T_PGFLT && vm_fault(addr, tf->err & 2) == 0)
		return;
	kill(tf, addr);
}
