/*
 * memop_native.h - memop's general fallback (memop_native.c): an instruction with one
 * memory operand run by the host CPU on a copy of that operand, which the monitor
 * fills from guest memory after the guest's checks and writes back if it was written.
 *
 * Interface: memop_native_init() once the window is mapped; memop_native() from
 * memop.c for what its own handlers do not know; memop_native_catch() from the signal
 * handler, for a fault of the host CPU in the executor.
 */
#ifndef TRAPEZE_MEMOP_NATIVE_H
#define TRAPEZE_MEMOP_NATIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"

/* Copy the executor into the window and make its probe page inaccessible: 0 or -1. */
int memop_native_init(void);
/* Run i (decoded at the guest's EIP) natively on a copy of its memory operand: EMU_NEXT,
 * EMU_FAULT (the guest's exception raised, nothing changed), or EMU_NOT_MINE (not an
 * instruction of that kind: a control transfer, a sensitive one, no or two memory
 * operands, the stack). */
enum emu_result memop_native(struct insn *i);
/* A host fault (signal sig at rip, error code err, address addr): if it is the
 * instruction's in the executor's slot, where to resume and on which stack (true). */
bool memop_native_catch(int sig, uint64_t rip, uint32_t err, uint64_t addr, uint64_t *resume,
			uint64_t *rsp);

#endif
