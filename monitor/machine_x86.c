/*
 * machine_x86.c - the full x86 machine: what the guest sees when it runs unmodified.
 *
 * A callout is a sensitive or privileged instruction, emulated (emulate.c); events go
 * through the guest's IDT (exceptions.c, interrupts.c); a host fault in translated code
 * becomes the exception the SDM defines for the guest's access, a write to translated
 * code, a page to map (shadowmmu/), or an access to emulate (memop.c). The dispatcher
 * reaches it only through struct machine_ops (engine.h).
 */
#include <stdio.h>

#include "debug.h"
#include "emulate.h"
#include "engine.h"
#include "exceptions.h"
#include "interrupts.h"
#include "memop.h"
#include "segments.h"
#include "vm.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/mem.h"
#include "../shadowmmu/mmu.h"

/* Is the guest instruction at EIP a segment load translated in line (its fast path
 * reads guest memory: rewriter/mangle_state.c, emit_sreg_load)? Only in 32-bit code. */
static bool sreg_load_at(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	uint8_t b[15];
	uint32_t lin = c->seg[SR_CS].base + c->sh->eip;
	int n = 4096 - (int)(lin & 0xfff);
	if (n > (int)sizeof(b))
		n = sizeof(b);
	return (c->seg[SR_CS].attr & SEG_DB) && lin_read(vm, lin, b, (uint32_t)n) == 0 &&
	       rw_is_sreg_load(b, n);
}

static void x86_host_fault(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	const typeof(vm->rt.fault) *f = &vm->rt.fault;
	vm->stats.faults[f->trapno & 31]++;
	if (vm->cfg.trace)
		fprintf(stderr, "trapeze: host signal %d trap %d err %#x addr %#llx at eip %#x\n",
			f->sig, f->trapno, f->err, (unsigned long long)f->addr, c->sh->eip);
	if ((f->side & SIDE_CALLOUT) && (f->trapno == 14 || f->trapno == 13 || f->trapno == 12)) {
		/* An in-line INT n or IRET read a descriptor or the frame, or wrote the
		 * frame, where the host maps nothing yet (or read-only), or past a limit:
		 * the emulator does it all, and the page is mapped as that supervisor
		 * access would map it (or the next run faults again). */
		if (f->trapno == 14 && f->addr < GUEST_TOP && mmu_paging(vm->mmu))
			mmu_prefault(vm->mmu, (uint32_t)f->addr, f->err & 2);
		vm->machine->callout(vm);
		return;
	}
	switch (f->trapno) {
	case -1: {
		uint64_t ran = 0;
		for (int k = 0; k < EXIT_REASONS; k++)
			ran += vm->stats.exits[k];
		if (ran)        /* it worked before: the state entered is wrong */
			vm_stop(vm, STOP_MONITOR_ERROR, 6,
				"internal error: entering the guest faulted (signal %d, trap %d, "
				"error %#x; SS shadow %#x)", f->sig, f->code, f->err,
				c->sh->hsel[SR_SS]);
		else
			vm_stop(vm, STOP_MONITOR_ERROR, 6,
				"this host cannot enter 32-bit compatibility mode (signal %d at the "
				"entry); trapeze needs IA32 emulation in the kernel", f->sig);
		return;
	}
	case 14: {
		/* Host address = guest linear address (layout.h). */
		uint64_t a = f->addr;
		if (a >= GUEST_TOP)
			break;
		uint32_t lin = (uint32_t)a;
		if (vm->dbg.nwatch && dbg_watch_fault(vm, lin, f->err & 2))
			return;
		int r = 2;
		if (mmu_paging(vm->mmu)) {
			r = mmu_fault(vm->mmu, lin, f->err & 2);
		} else if (lin >= GUEST_LOW && lin < vm->mem.size) {
			uint32_t ppn = lin >> 12;
			unsigned wp = mem_page_wp(&vm->mem, ppn);
			if (!(f->err & 2) || !wp)
				break;
			/* Self-modifying code: drop the page's blocks and redo the write. */
			vm->mem.written(vm->mem.opaque, ppn, wp, true);
			return;
		}
		/* No RAM there (device memory), or memory the host cannot map (the lowest
		 * 64 KiB): the instruction is emulated (devices/mmio.h, monitor/memop.h).
		 * A segment load whose in-line fast path read its selector or descriptor
		 * there goes to the emulator it would have gone to as a callout. */
		if (r == 2 && memop_emulate(vm) == EMU_NOT_MINE) {
			if (sreg_load_at(vm)) {
				vm->machine->callout(vm);    /* the machine's, para-x86's too */
				return;
			}
			vm_stop(vm, STOP_MONITOR_ERROR, 6, "eip %#x: guest access to linear %#x, "
				"which the host cannot map (device memory, or the lowest 64 KiB): "
				"this instruction is not emulated yet", c->sh->eip, lin);
		}
		return;
	}
	case 13:
		emulate_host_gp(vm, VEC_GP);
		return;
	case 12:
		emulate_host_gp(vm, VEC_SS);
		return;
	case 0:
		exc_raise(vm, VEC_DE, false, 0);
		return;
	case 1:
		exc_raise(vm, VEC_DB, false, 0);
		return;
	case 5:
		exc_raise(vm, VEC_BR, false, 0);
		return;
	case 6:
		exc_raise(vm, VEC_UD, false, 0);
		return;
	case 16:
		exc_raise(vm, VEC_MF, false, 0);
		return;
	case 17:
		exc_raise(vm, VEC_AC, true, 0);
		return;
	case 19:
		exc_raise(vm, VEC_XM, false, 0);
		return;
	}
	vm_stop(vm, STOP_MONITOR_ERROR, 6,
		"unexpected host signal %d (trap %d, error %#x, address %#llx) at guest eip %#x",
		f->sig, f->trapno, f->err, (unsigned long long)f->addr, c->sh->eip);
}

const struct machine_ops machine_x86 = {
	.name = "x86",
	.deliver_exception = exc_deliver,
	.check_interrupt = intr_check,
	.halt = intr_halt,
	.callout = emulate_callout,
	.host_fault = x86_host_fault,
};
