/*
 * cpuid.h - the virtual CPU's identity and features.
 */
#ifndef TRAPEZE_CPUID_H
#define TRAPEZE_CPUID_H

#include <stdint.h>

struct vm;

/* CPUID with the leaf in regs[EAX] (subleaf in regs[ECX]); results into EAX..EDX. */
void cpuid_emulate(struct vm *vm, uint32_t regs[8]);
/* Ask the host once, at start-up, for the leaves the virtual CPU is built from. */
void cpuid_init(struct vm *vm);

#endif
