/*
 * emulate.h - callouts: the monitor emulates the instruction at the guest's EIP.
 */
#ifndef TRAPEZE_EMULATE_H
#define TRAPEZE_EMULATE_H

struct vm;

/* Emulate the instruction at cpu.sh->eip: advance EIP past it, or raise the guest
 * exception it causes, or stop the VM if trapeze cannot emulate it yet. */
void emulate_callout(struct vm *vm);

#endif
