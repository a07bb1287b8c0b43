/*
 * privilege.h - transfers between privilege levels (SDM Vol. 3, 5.8 and 6.12.1).
 *
 * The guest's CPL is virtual (struct cpu.cpl); the host always runs guest code at its
 * own ring 3. What changes with the CPL is what the monitor allows, which stack the
 * next interrupt uses and which translations run (the rewriter's mode word holds the
 * CPL). This file owns the pieces the instructions that change CPL share: the ring
 * stacks in the TSS, the checks of a new stack segment, frames written on a stack
 * that is not yet SS, call gates, and the I/O permission bitmap.
 *
 * Interface: functions returning int give 0 on success or -1 after raising a guest
 * exception (state unchanged); the caller commits nothing on -1.
 */
#ifndef TRAPEZE_PRIVILEGE_H
#define TRAPEZE_PRIVILEGE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct seg;

/* SS:ESP for ring n from the current TSS; #TS(TR) if the TSS is too short.
 * ext: the EXT bit for error codes (1 when delivering an external event). */
int tss_ring_stack(struct vm *vm, int n, uint16_t *ss, uint32_t *esp, uint32_t ext);

/* Check sel as the stack segment for CPL cpl and decode it into *out: a null
 * selector, wrong RPL/DPL or type raise vec(sel | ext) (#TS for a stack from the TSS,
 * #GP for one popped by a return); a segment not present raises #SS(sel | ext), or
 * vec when vec is #TS (SDM: IRET/RET check with #SS, stack switches with #TS). */
int stack_seg_check(struct vm *vm, uint16_t sel, int cpl, struct seg *out, int vec, uint32_t ext);

/* Write n values of size bytes below *esp on stack segment ss (not necessarily SS),
 * first value highest, and lower *esp; #SS(err) if the segment refuses. */
int push_frame(struct vm *vm, const struct seg *ss, uint32_t *esp, const uint32_t *v, int n,
	       int size, uint32_t err);

/* Make ss:esp the stack and cs the code segment at CPL cpl (RPL of CS = cpl). */
void priv_switch(struct vm *vm, const struct seg *cs, int cpl, const struct seg *ss, uint32_t esp);

/* After a return to an outer level: DS, ES, FS and GS that the new CPL may not use
 * become null (SDM Vol. 2, IRET and RET: "data segment register ... set to null"). */
void priv_drop_data_segs(struct vm *vm);

/* A far CALL (call = true) or JMP through sel, a call gate (DESC_CALL_GATE32; a
 * 16-bit one stops the VM) whose descriptor is gate: the gate's checks, then a
 * transfer to the gate's target, with a stack switch and parameter copy when a call
 * goes to a more privileged level. The gate's size decides the frame's, not the
 * CALL's operand size. next: the return EIP. */
int far_via_call_gate(struct vm *vm, uint16_t sel, uint64_t gate, bool call, uint32_t next);

/* The code segment sel that a gate names, checked for a transfer from the CPL (SDM
 * Vol. 2, CALL; Vol. 3, 6.12.1.1): a present code segment with DPL <= CPL, into *cs,
 * its descriptor into *d (and its linear address into *lin if not NULL). A null
 * selector or any other descriptor is #GP(sel | ext), one not present #NP(sel | ext). */
int gate_code_seg(struct vm *vm, uint16_t sel, uint32_t ext, struct seg *cs, uint64_t *d,
		  uint32_t *lin);

/* May the guest at its CPL and IOPL access ports [port, port + size)? Looks in the
 * TSS I/O permission bitmap when CPL > IOPL (SDM Vol. 1, 19.5.2). */
bool io_permitted(struct vm *vm, uint16_t port, int size);

#endif
