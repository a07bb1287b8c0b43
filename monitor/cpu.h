/*
 * cpu.h - the dispatcher: run the guest until the VM stops.
 */
#ifndef TRAPEZE_CPU_H
#define TRAPEZE_CPU_H

struct vm;

/* Run translated guest code, handling every exit, until vm->stop is set. */
void cpu_run(struct vm *vm);

#endif
