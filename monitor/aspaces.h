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
 * aspaces_start() installs the sandbox: it forks the other processes, each installs
 * its own (one at a time, knowing every pid of the VM), then the first; the others
 * return from it only when they first get the vCPU, and enter cpu_run(), which calls
 * aspaces_first_turn(). aspaces_switch() in the dispatcher loop, before guest code
 * runs. aspaces_forward() in a signal handler: an asynchronous signal (timer, input,
 * Ctrl-C) that reached a process that does not run the vCPU goes to the one that
 * does. When the guest stops in another process, that one hands the vCPU back to the
 * first (aspaces_end()), which ends the others (aspaces_stop()) and reports as usual.
 */
#ifndef TRAPEZE_ASPACES_H
#define TRAPEZE_ASPACES_H

#include <stdbool.h>

struct vm;

#define ASPACES_DEFAULT 4

/* Fork n - 1 more processes (n <= MMU_SLOTS; 1: none) and put every process of the VM
 * in the sandbox (seccomp.h: sockets, gdb). 0, or -errno in the first. */
int aspaces_start(struct vm *vm, int n, bool sockets, bool gdb);
int aspaces_count(const struct vm *vm);
/* In cpu_run(), before anything: a process's first turn takes the vCPU's state. */
void aspaces_first_turn(struct vm *vm);
/* If the shadow MMU wants another slot's process to run the guest: hand the vCPU
 * over, take it back (later) with this process's own mappings in place, and return
 * true (the caller starts its turn over: what it computed before is stale). */
bool aspaces_switch(struct vm *vm);
/* The vCPU sleeps in HLT (idle) or no longer: processes polling for their turn go to
 * sleep instead (an idle guest keeps no host CPU busy). */
void aspaces_idle(struct vm *vm, bool idle);
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
