/*
 * exceptions.h - exceptions and software interrupts delivered through the guest IDT.
 *
 * exc_raise() records an exception for the instruction at cpu.sh->eip (the caller sets
 * the EIP the guest must see: the faulting instruction for faults, the next one for
 * traps). The dispatcher calls exc_deliver() before it runs the guest again. Nested
 * faults during delivery become #DF, and a fault while delivering #DF stops the VM
 * with a triple fault (SDM Vol. 3, 6.15, "Interrupt 8").
 */
#ifndef TRAPEZE_EXCEPTIONS_H
#define TRAPEZE_EXCEPTIONS_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Record exception vector (with error code err if has_err) for delivery; a second
 * fault while one is pending or being delivered becomes #DF, or a triple fault. */
void exc_raise(struct vm *vm, int vector, bool has_err, uint32_t err);
/* Deliver the pending exception, if any. */
void exc_deliver(struct vm *vm);
/* An external interrupt (from the 8259) at the current EIP. */
void intr_external(struct vm *vm, int vector);
/* INT n / INT3 / INTO (soft: the gate's DPL is checked, no EXT bit) or INT1: an
 * interrupt whose return EIP is next_eip. */
void intr_soft(struct vm *vm, int vector, uint32_t next_eip, bool soft);

#endif
