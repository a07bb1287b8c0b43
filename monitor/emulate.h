/*
 * emulate.h - callouts: the monitor emulates the instruction at the guest's EIP.
 */
#ifndef TRAPEZE_EMULATE_H
#define TRAPEZE_EMULATE_H

struct vm;

/* Emulate the instruction at cpu.sh->eip: advance EIP past it, or raise the guest
 * exception it causes, or stop the VM if trapeze cannot emulate it yet. */
void emulate_callout(struct vm *vm);

/* A host #GP or #SS (vector) in translated code at the guest's EIP: deliver the guest
 * exception when the guest's own segments refuse the access; an access they allow
 * that the shadows cut off (the top WIN_SIZE of linear space, a wrap) is emulated, and
 * the instruction learnt as a site (rewriter/sites.h). */
void emulate_host_gp(struct vm *vm, int vector);

#endif
