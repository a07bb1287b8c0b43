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
/* The TSC's rate in Hz (vm->tsc_hz), measured against CLOCK_MONOTONIC at the first call
 * (10 ms): what leaf 0x15 tells the guest and IA32_TSC_DEADLINE is converted with. */
uint64_t cpuid_tsc_hz(struct vm *vm);

#endif
