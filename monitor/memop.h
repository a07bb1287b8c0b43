/*
 * memop.h - emulate one guest instruction that accesses memory, where the access
 * cannot run natively: the top WIN_SIZE bytes of linear space (where the host keeps
 * the monitor window), the lowest 64 KiB (the host cannot map them), device memory,
 * and pages the shadow MMU keeps unmapped.
 *
 * Interface: with cpu.sh->eip at the instruction, memop_emulate() (or memop_run() on
 * an instruction already decoded, decode.h) does all of it: memory through
 * seg_read/seg_write (which apply the guest's segment checks and raise its
 * exception), registers, the arithmetic flags (computed by the host CPU running the
 * same operation), and EIP; 16-bit code and 16-bit addressing included. What its own
 * handlers do not know goes to memop_native.h (the instruction run by the host CPU on
 * a copy of its memory operand).
 */
#ifndef TRAPEZE_MEMOP_H
#define TRAPEZE_MEMOP_H

#include "decode.h"

struct vm;

/* Emulate the instruction at the guest's CS:EIP. EMU_NEXT: done, EIP past it;
 * EMU_JUMPED: done, EIP set (CALL, RET; or still at a REP string instruction after
 * MEMOP_REP_BATCH elements: running it again resumes it, as after an interrupt);
 * EMU_NOT_MINE: memop does not handle this instruction or its bytes do not decode
 * (nothing changed, no exception raised); EMU_FAULT: a guest exception was raised
 * (#PF fetching it included), state as before the instruction, except that a REP
 * string instruction stops between elements with ECX/ESI/EDI consistent, as the CPU
 * does. */
enum emu_result memop_emulate(struct vm *vm);
/* The same for the instruction i, decoded at the guest's EIP (insn_decode). */
enum emu_result memop_run(struct insn *i);

/* Elements one memop_emulate() call moves before it returns to the dispatcher. */
#define MEMOP_REP_BATCH 4096

#endif
