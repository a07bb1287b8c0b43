/*
 * task.h - hardware task switches through 32-bit TSSs (SDM Vol. 3, 7.3).
 *
 * Reached from a task gate in the IDT (how a kernel gets a known-good stack for #DF),
 * from a far JMP or CALL to a TSS descriptor or task gate, and from IRET with
 * EFLAGS.NT set. The outgoing state is saved in the current TSS, the incoming one
 * loaded from the new TSS; the previous-task link, the busy bits, EFLAGS.NT and
 * CR0.TS change as the SDM's Table 7-2 says.
 */
#ifndef TRAPEZE_TASK_H
#define TRAPEZE_TASK_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

enum task_reason { TASK_JMP, TASK_CALL, TASK_INT, TASK_IRET };

/* Switch to the task of TSS selector sel. The outgoing task resumes at ret_eip.
 * TASK_INT with has_err pushes err on the new task's stack. Returns 0; -1 with a
 * guest exception raised (or the VM stopped) before the switch; -2 with one raised
 * after it, in the new task (its EIP is the new task's). */
int task_switch(struct vm *vm, uint16_t sel, enum task_reason why, uint32_t ret_eip,
		bool has_err, uint32_t err);

/* IRET with NT set: back to the task in the current TSS's previous-task link. */
int task_return(struct vm *vm, uint32_t ret_eip);

/* Set or clear the busy bit of the TSS descriptor d at linear desc_lin, in guest
 * memory (LTR, and task switches: SDM Vol. 3, 7.2.2). */
void tss_set_busy(struct vm *vm, uint32_t desc_lin, uint64_t d, bool busy);

#endif
