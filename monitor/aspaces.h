/*
 * aspaces.h - guest address spaces in host processes.
 *
 * A CR3 load from one guest process to another changes the host mappings of every
 * page the two map differently, a host call each, and the pages not mapped again
 * fault back in. With --aspaces N (N > 1) the VM runs in N host processes instead,
 * each with its own mappings of the guest's linear space (a slot of the shadow MMU:
 * mmu.h) for one recent address space. They share everything else: the monitor's
 * memory (sharedmem.c), the guest's RAM, the window (vCPU block, code cache) and the
 * file descriptors. One process runs the vCPU at a time; a CR3 load to another's
 * address space hands the vCPU over (a futex each) at the top of the dispatcher loop.
 *
 * aspaces_start() before the sandbox: forks the other processes, which return from it
 * only when they first get the vCPU; then each installs the sandbox and enters
 * cpu_run(), which calls aspaces_first_turn(). aspaces_switch() at the top of the
 * dispatcher loop. aspaces_forward() in a signal handler: an asynchronous signal
 * (timer, input, Ctrl-C) that reached a process that does not run the vCPU goes to
 * the one that does. When the guest stops in another process, that one hands the
 * vCPU back to the first (aspaces_end()), which ends the others (aspaces_stop()) and
 * reports as usual.
 */
#ifndef TRAPEZE_ASPACES_H
#define TRAPEZE_ASPACES_H

#include <stdbool.h>

struct vm;

#define ASPACES_DEFAULT 4

/* Fork n - 1 more processes (n <= MMU_SLOTS; 1: none). 0, or -errno in the first. */
int aspaces_start(struct vm *vm, int n);
int aspaces_count(const struct vm *vm);
/* The pids of the VM's processes into pids[MMU_SLOTS]; how many (0: one process). */
int aspaces_pids(const struct vm *vm, int *pids);
/* In cpu_run(), before anything: a process's first turn takes the vCPU's state. */
void aspaces_first_turn(struct vm *vm);
/* The shadow MMU wants another slot's process to run the guest: hand the vCPU over,
 * and take it back (later) with this process's own mappings in place. */
void aspaces_switch(struct vm *vm);
/* The guest stopped in a process other than the first: give the first the vCPU back,
 * and wait to be ended. Never returns there; returns at once in the first. */
void aspaces_end(struct vm *vm);
/* The first process, after the guest stopped: end the others. */
void aspaces_stop(struct vm *vm);
/* From a signal handler: true if sig was passed to the process running the vCPU. */
bool aspaces_forward(struct vm *vm, int sig);
/* From a signal handler: SIGCHLD. A process of the VM died while the VM runs: the VM
 * cannot go on (the first process ends with a message). */
void aspaces_child_died(struct vm *vm);

#endif
