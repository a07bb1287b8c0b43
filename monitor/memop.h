/*
 * memop.h - emulate one guest instruction that accesses memory, where the access
 * cannot run natively: the top WIN_SIZE bytes of linear space (where the host keeps
 * the monitor window), the lowest 64 KiB (the host cannot map them), device memory,
 * and pages the shadow MMU keeps unmapped.
 *
 * Interface: with cpu.sh->eip at the instruction, memop_emulate() does all of it:
 * memory through seg_read/seg_write (which apply the guest's segment checks and
 * raise its exception), registers, the arithmetic flags (computed by the host CPU
 * running the same operation), and EIP.
 */
#ifndef TRAPEZE_MEMOP_H
#define TRAPEZE_MEMOP_H

struct vm;

/* Emulate the instruction at the guest's CS:EIP and advance EIP. Returns 1 if
 * emulated, 0 if memop does not handle this instruction or its bytes do not decode
 * (nothing changed, no exception raised; a 16-bit address size is one of these),
 * -1 if a guest exception was raised (#PF fetching it included): state as before
 * the instruction, except that a REP string instruction stops between elements with
 * ECX/ESI/EDI consistent, as the CPU does. A long REP string instruction also
 * returns 1 with EIP still at it after MEMOP_REP_BATCH elements: running it again
 * resumes it, as after an interrupt. */
int memop_emulate(struct vm *vm);

/* Elements one memop_emulate() call moves before it returns to the dispatcher. */
#define MEMOP_REP_BATCH 4096

#endif
