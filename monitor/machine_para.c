/*
 * machine_para.c - the para-x86 machine (docs/para-x86.md): what a para guest sees.
 *
 * The guest's code runs through the same engine as a full x86 guest's (every
 * instruction translated); only the exits mean other things here. A callout is a
 * hypercall (VMCALL), one of the instructions section 7 redefines, or an instruction
 * that means the same on both machines (CPUID, RDTSC, UD2, SGDT...: the full-x86
 * emulator runs those); events and exceptions go through the guest's trap table with
 * the x86 frame; host faults are what they are on full x86 (machine_x86). Every
 * hypercall argument is hostile: each is checked, and a bad one gets its error code.
 */
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "decode.h"
#include "emulate.h"
#include "engine.h"
#include "exceptions.h"
#include "interrupts.h"
#include "para.h"
#include "segments.h"
#include "vm.h"
#include "../devices/clock.h"
#include "../devices/uart16550.h"
#include "../shadowmmu/mem.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"

#define SHARED(field) offsetof(struct para_shared, field)

/* ---- guest memory, as hypercall arguments name it ---- */

/* Copy len bytes at linear lin to or from buf with the kernel's rights (write: the
 * guest's memory is written). 0, or -PARA_EFAULT: outside RAM, or a page the kernel
 * cannot reach that way. Nothing is raised in the guest. */
static int guest_copy(struct vm *vm, uint32_t lin, void *buf, uint32_t len, bool write)
{
	unsigned acc = write ? PF_ACC_WRITE : 0;
	uint8_t *b = buf;
	while (len) {
		uint32_t chunk = 4096 - (lin & 0xfff);
		if (chunk > len)
			chunk = len;
		uint64_t pa;
		if (mmu_peek(vm->mmu, lin, acc, &pa) < 0 || pa + chunk > vm->mem.size ||
		    mmu_translate(vm->mmu, lin, acc, &pa) < 0)     /* sets A (and D) */
			return -PARA_EFAULT;
		if (write) {
			if (!mem_write_phys(&vm->mem, pa, b, chunk))
				return -PARA_EFAULT;
		} else {
			const uint8_t *src = mem_phys(&vm->mem, pa, chunk);
			if (!src)
				return -PARA_EFAULT;
			memcpy(b, src, chunk);
		}
		lin += chunk;
		b += chunk;
		len -= chunk;
	}
	return 0;
}

/* Could guest_copy() reach all of [lin, lin + len) that way? Nothing is set or raised. */
static bool guest_reachable(struct vm *vm, uint32_t lin, uint32_t len, bool write)
{
	unsigned acc = write ? PF_ACC_WRITE : 0;
	while (len) {
		uint32_t chunk = 4096 - (lin & 0xfff);
		if (chunk > len)
			chunk = len;
		uint64_t pa;
		if (mmu_peek(vm->mmu, lin, acc, &pa) < 0 || pa + chunk > vm->mem.size)
			return false;
		lin += chunk;
		len -= chunk;
	}
	return true;
}

/* An emulated instruction's own access at lin (its stack), with the guest's rights at
 * its CPL: 0, or -1 with the guest's #PF raised (CR2 set). */
static int insn_access(struct vm *vm, uint32_t lin, void *buf, uint32_t len, bool write)
{
	unsigned acc = (write ? PF_ACC_WRITE : 0) | (vm->cpu.cpl == 3 ? PF_ACC_USER : 0);
	return lin_access(vm, lin, buf, len, acc);
}

/* ---- segments: para-x86 has the flat ones of section 6 and nothing else ---- */

/* The flat 32-bit code and data segments of level cpl (0 or 3), DPL = cpl. */
static void flat_segments(struct vm *vm, int cpl)
{
	uint16_t dpl = (uint16_t)(cpl << 5);
	vm->cpu.cpl = cpl;
	seg_set(vm, SR_CS, cpl ? PARA_USER_CS : PARA_KERNEL_CS, 0, 0xffffffff, 0xc09b | dpl);
	for (int sr = 0; sr < SR_COUNT; sr++)
		if (sr != SR_CS)
			seg_set(vm, sr, cpl ? PARA_USER_DS : PARA_KERNEL_DS, 0, 0xffffffff, 0xc093 | dpl);
	vm->segs_stale = true;
}

/* ---- events and traps (section 6) ---- */

/* Deliver vector through the trap table with the x86 frame (and CR2 on top for a page
 * fault, pf); ret_eip is the EIP the frame returns to. False if the guest cannot take
 * it (no entry, or its stack does not take the frame): then the VM is stopped. */
static bool deliver(struct vm *vm, int vector, bool has_err, uint32_t err, uint32_t ret_eip,
		    bool pf)
{
	struct cpu *c = &vm->cpu;
	struct para *p = vm->para;
	if (!p->has[vector]) {
		vm_stop(vm, STOP_TRIPLE_FAULT, 4, "para guest: vector %d at eip %#x has no entry "
			"in the trap table", vector, c->sh->eip);
		return false;
	}
	uint32_t fl = (cpu_eflags(c) & ~FL_IF) | (para_shared_get(vm, SHARED(event_mask)) ? 0 : FL_IF);
	uint32_t frame[7], n = 0;
	bool from_user = c->cpl == 3;
	uint32_t esp = from_user ? p->esp0 : c->sh->regs[R_ESP];
	if (from_user) {
		frame[n++] = PARA_USER_DS;
		frame[n++] = c->sh->regs[R_ESP];
	}
	frame[n++] = fl;
	frame[n++] = from_user ? PARA_USER_CS : PARA_KERNEL_CS;
	frame[n++] = ret_eip;
	if (has_err)
		frame[n++] = err;
	if (pf)
		frame[n++] = c->sh->cr2;
	/* The frame goes on in one piece: pushed first = highest address. */
	uint32_t words[7];
	for (uint32_t k = 0; k < n; k++)
		words[k] = frame[n - 1 - k];
	esp -= 4 * n;
	if (guest_copy(vm, esp, words, 4 * n, true) < 0) {
		vm_stop(vm, STOP_TRIPLE_FAULT, 4, "para guest: the kernel stack at %#x does not take "
			"the frame of vector %d", esp, vector);
		return false;
	}
	if (from_user)
		flat_segments(vm, 0);
	c->sh->regs[R_ESP] = esp;
	c->sh->eip = p->handler[vector];
	cpu_set_eflags(c, fl & ~(FL_TF | FL_NT | FL_RF));
	para_shared_set(vm, SHARED(event_mask), 1);
	para_time(vm);
	c->deliveries++;
	c->halted = false;
	vm->stats.exceptions[vector]++;
	return true;
}

static void para_deliver_exception(struct vm *vm)
{
	struct pending_exc e = vm->cpu.exc;
	vm->cpu.exc.pending = false;
	deliver(vm, e.vector, e.has_err, e.err, vm->cpu.sh->eip, e.vector == VEC_PF);
}

/* The lowest enabled event pending, or -1. */
static int event_due(struct vm *vm)
{
	uint32_t due = para_shared_get(vm, SHARED(event_pending)) &
		       para_shared_get(vm, SHARED(event_enable));
	return due ? __builtin_ctz(due) : -1;
}

/* Console input (what the host typed, taken through COM1's buffer) is event 1 while
 * some waits. */
static void console_event(struct vm *vm)
{
	size_t off = SHARED(event_pending);
	uint32_t p = para_shared_get(vm, off), bit = 1u << PARA_EVENT_CONSOLE;
	bool in = uart_has_input(vm->com1);
	if (in != !!(p & bit))
		para_shared_set(vm, off, in ? p | bit : p & ~bit);
}

static bool event_ready(struct vm *vm)
{
	console_event(vm);
	return event_due(vm) >= 0 || vclock_now(&vm->clock) >= vm->para->idle_until;
}

static enum intr_result para_check_interrupt(struct vm *vm)
{
	intr_update(vm);
	console_event(vm);
	vm->cpu.sh->irq = 0;    /* translated STI has nothing to wait for */
	int n = event_due(vm);
	if (n < 0 || para_shared_get(vm, SHARED(event_mask)) || vm->cpu.exc.pending)
		return INTR_NONE;
	vm->stats.interrupts++;
	deliver(vm, PARA_EVENT_VECTOR + n, false, 0, vm->cpu.sh->eip, false);
	return INTR_DELIVERED;
}

/* idle, or HLT at CPL 0: until an enabled event is pending or the deadline. */
static void para_halt(struct vm *vm)
{
	struct para *p = vm->para;
	if (intr_sleep(vm, p->idle_until, event_ready) < 0)
		vm_stop(vm, STOP_GUEST_DEAD, 4, "para guest idle at eip %#x with no deadline and "
			"nothing to wake it", vm->cpu.sh->eip);
	vm->cpu.halted = false;
	p->idle_until = VCLOCK_NEVER;
	para_time(vm);
}

/* ---- hypercalls (section 4) ---- */

static int32_t hc_console_write(struct vm *vm, uint32_t buf, uint32_t len)
{
	uint8_t tmp[PARA_CONSOLE_MAX];
	if (len > PARA_CONSOLE_MAX)
		return -PARA_EINVAL;
	int r = guest_copy(vm, buf, tmp, len, false);
	if (r < 0)
		return r;
	for (uint32_t done = 0; done < len;) {
		ssize_t w = write(vm->serial_out, tmp + done, len - done);
		if (w <= 0)
			break;          /* the host's console is gone: the guest goes on */
		done += (uint32_t)w;
	}
	return (int32_t)len;
}

static int32_t hc_console_read(struct vm *vm, uint32_t buf, uint32_t len)
{
	uint8_t tmp[PARA_CONSOLE_MAX];
	if (len > PARA_CONSOLE_MAX)
		return -PARA_EINVAL;
	if (!guest_reachable(vm, buf, len, true))      /* before anything is taken */
		return -PARA_EFAULT;
	uint32_t n = uart_take_input(vm->com1, tmp, len);
	if (guest_copy(vm, buf, tmp, n, true) < 0)
		return -PARA_EFAULT;
	console_event(vm);
	return (int32_t)n;
}

static int32_t hc_set_trap_table(struct vm *vm, uint32_t table, uint32_t n)
{
	struct para_trap t[PARA_TRAPS_MAX];
	struct para *p = vm->para;
	if (n > PARA_TRAPS_MAX)
		return -PARA_EINVAL;
	int r = guest_copy(vm, table, t, n * sizeof(t[0]), false);
	if (r < 0)
		return r;
	for (uint32_t k = 0; k < n; k++)
		if ((t[k].dpl != 0 && t[k].dpl != 3) || t[k].zero)
			return -PARA_EINVAL;
	memset(p->has, 0, sizeof(p->has));
	for (uint32_t k = 0; k < n; k++) {
		p->handler[t[k].vector] = t[k].handler;
		p->dpl[t[k].vector] = t[k].dpl;
		p->has[t[k].vector] = true;
	}
	return 0;
}

/* A deadline in the guest's ns (0: none) as vclock time. */
static uint64_t deadline(struct vm *vm, uint32_t lo, uint32_t hi)
{
	uint64_t ns = (uint64_t)hi << 32 | lo;
	if (!ns)
		return VCLOCK_NEVER;
	uint64_t at = vm->para->boot_ns + ns;
	return at < ns ? VCLOCK_NEVER - 1 : at;
}

static int32_t hc_idle(struct vm *vm, uint32_t lo, uint32_t hi)
{
	if (event_due(vm) >= 0)
		return 0;
	vm->para->idle_until = deadline(vm, lo, hi);
	vm->cpu.halted = true;
	return 0;
}

/* One mmu_update request (section 4): checked, written, its translation dropped. */
static int32_t mmu_req(struct vm *vm, const struct para_mmu_req *q)
{
	if ((q->ptr & 3) || q->ptr > vm->mem.size - 4)
		return -PARA_EINVAL;
	/* Bits 12-31 hold where the frame starts (a 4 MiB page's with PAT and reserved
	 * bits: not below its base), for an entry of either level. */
	if ((q->val & 1) && (q->val & 0xfffff000u) >= vm->mem.size)
		return -PARA_EFAULT;
	if (!mem_write_phys(&vm->mem, q->ptr, &q->val, 4))
		return -PARA_EINVAL;
	if (q->lin != PARA_NO_LIN) {
		mmu_invlpg(vm->mmu, q->lin);
		/* The monitor sees this entry as it is written: map its page now, and the
		 * guest's first access takes no host fault (section 4). */
		if (q->val & 1)
			mmu_prefault(vm->mmu, q->lin, false);
	}
	return 0;
}

static int32_t hc_mmu_update(struct vm *vm, uint32_t reqs, uint32_t n, uint32_t done_at)
{
	if (n > PARA_MMU_BATCH_MAX)
		return -PARA_EINVAL;
	int32_t r = 0;
	uint32_t done = 0;
	for (; done < n; done++) {
		struct para_mmu_req q;
		r = guest_copy(vm, reqs + done * sizeof(q), &q, sizeof(q), false);
		if (r == 0)
			r = mmu_req(vm, &q);
		if (r < 0)
			break;
	}
	if (done_at && guest_copy(vm, done_at, &done, 4, true) < 0 && r == 0)
		r = -PARA_EFAULT;
	return r;
}

static int32_t hc_set_pt(struct vm *vm, uint32_t pd)
{
	struct cpu *c = &vm->cpu;
	if (pd & 0xfff)
		return -PARA_EINVAL;
	if (pd > vm->mem.size - 4096)
		return -PARA_EFAULT;
	if (mmu_load_cr3(vm->mmu, pd) < 0)
		return -PARA_EINVAL;
	if (!(c->cr0 & CR0_PG)) {
		c->cr0 |= CR0_PG | CR0_WP;
		mmu_paging_changed(vm->mmu);
	}
	return 0;
}

static int32_t hc_tlb_flush(struct vm *vm, uint32_t lin, uint32_t n)
{
	if (n == 0 || n > 1024) {       /* a long range: everything is cheaper */
		mmu_flush_tlb(vm->mmu);
		return 0;
	}
	for (uint32_t k = 0; k < n; k++)
		mmu_invlpg(vm->mmu, lin + k * 4096);
	return 0;
}

static int32_t hc_event_ack(struct vm *vm, uint32_t mask)
{
	uint32_t old = para_shared_get(vm, SHARED(event_pending));
	para_shared_set(vm, SHARED(event_pending), old & ~mask);
	return (int32_t)old;
}

static int32_t hypercall(struct vm *vm, uint32_t nr, const uint32_t *a);

/* multicall (section 4): the calls of a list in order, each result stored in its entry;
 * no multicall inside one. */
static int32_t hc_multicall(struct vm *vm, uint32_t list, uint32_t n)
{
	if (n > PARA_MULTI_MAX)
		return -PARA_EINVAL;
	for (uint32_t k = 0; k < n && vm->stop == STOP_NONE; k++) {
		struct para_multi e;
		uint32_t at = list + k * (uint32_t)sizeof(e);
		if (guest_copy(vm, at, &e, sizeof(e), false) < 0)
			return -PARA_EFAULT;
		e.result = e.nr == PARA_MULTICALL ? -PARA_EINVAL : hypercall(vm, e.nr, e.arg);
		if (guest_copy(vm, at + offsetof(struct para_multi, result), &e.result, 4, true) < 0)
			return -PARA_EFAULT;
	}
	return 0;
}

static int32_t hypercall(struct vm *vm, uint32_t nr, const uint32_t *a)
{
	struct para *p = vm->para;
	switch (nr) {
	case PARA_CONSOLE_WRITE:
		return hc_console_write(vm, a[0], a[1]);
	case PARA_EXIT:
		vm_stop(vm, STOP_DEBUG_EXIT, (int)((a[0] & 0x7f) << 1 | 1), "para guest exit %u", a[0]);
		return 0;
	case PARA_SET_TRAP_TABLE:
		return hc_set_trap_table(vm, a[0], a[1]);
	case PARA_STACK_SWITCH:
		p->esp0 = a[0];
		return 0;
	case PARA_EVENT_POLL:
		return 0;               /* delivered at the dispatcher's next turn */
	case PARA_SET_TIMER:
		p->timer = deadline(vm, a[0], a[1]);
		vm->io_dirty = true;    /* the board's earliest deadline moved */
		return 0;
	case PARA_IDLE:
		return hc_idle(vm, a[0], a[1]);
	case PARA_MMU_UPDATE:
		return hc_mmu_update(vm, a[0], a[1], a[2]);
	case PARA_SET_PT:
		return hc_set_pt(vm, a[0]);
	case PARA_TLB_FLUSH:
		return hc_tlb_flush(vm, a[0], a[1]);
	case PARA_CONSOLE_READ:
		return hc_console_read(vm, a[0], a[1]);
	case PARA_RING_SETUP:
		return para_ring_setup(vm, a[0], a[1], a[2]);
	case PARA_RING_NOTIFY:
		return para_ring_notify(vm, a[0]);
	case PARA_EVENT_ACK:
		return hc_event_ack(vm, a[0]);
	case PARA_MULTICALL:
		return hc_multicall(vm, a[0], a[1]);
	}
	return -PARA_ENOSYS;
}

/* ---- the instructions section 7 redefines ---- */

static enum emu_result gp0(struct vm *vm)
{
	exc_raise(vm, VEC_GP, true, 0);
	return EMU_FAULT;
}

static enum emu_result do_vmcall(struct insn *i)
{
	struct vm *vm = i->vm;
	if (vm->cpu.cpl != 0) {
		exc_raise(vm, VEC_UD, false, 0);
		return EMU_FAULT;
	}
	uint32_t *r = i->regs;
	uint32_t a[4] = { r[R_EBX], r[R_ECX], r[R_EDX], r[R_ESI] };
	para_time(vm);
	r[R_EAX] = (uint32_t)hypercall(vm, r[R_EAX], a);
	return EMU_NEXT;
}

/* IRET: back to the level the frame's CS names; IF sets event_mask (section 6). */
static enum emu_result do_iret(struct insn *i)
{
	struct vm *vm = i->vm;
	struct cpu *c = &vm->cpu;
	uint32_t esp = c->sh->regs[R_ESP], f[5];
	if (i->o16)
		return gp0(vm);
	if (insn_access(vm, esp, f, 12, false) < 0)
		return EMU_FAULT;
	bool to_user = f[1] == PARA_USER_CS;
	if (!to_user && f[1] != PARA_KERNEL_CS)
		return gp0(vm);
	if (to_user && insn_access(vm, esp + 12, f + 3, 8, false) < 0)
		return EMU_FAULT;
	if (to_user && f[4] != PARA_USER_DS)
		return gp0(vm);
	if (c->cpl == 3 && !to_user)
		return gp0(vm);
	uint32_t may = FL_ARITH | FL_TF | FL_IF | FL_NT | FL_AC | FL_ID;
	cpu_set_eflags(c, (f[2] & may) | (cpu_eflags(c) & ~may));
	para_shared_set(vm, SHARED(event_mask), (f[2] & FL_IF) ? 0 : 1);
	c->sh->eip = f[0];
	c->sh->regs[R_ESP] = to_user ? f[3] : esp + 12;
	if (to_user)
		flat_segments(vm, 3);
	mmu_retry(vm->mmu);     /* back to an instruction whose page the handler mapped */
	return EMU_JUMPED;
}

/* INT n, INT3, INTO, INT1: through the trap table, the entry's dpl checked. */
static enum emu_result do_int(struct insn *i, int vector, bool soft)
{
	struct vm *vm = i->vm;
	if (soft && vm->para->has[vector] && vm->para->dpl[vector] < vm->cpu.cpl) {
		exc_raise(vm, VEC_GP, true, (uint32_t)vector << 3 | 2);
		return EMU_FAULT;
	}
	deliver(vm, vector, false, 0, i->next, false);
	return EMU_JUMPED;
}

/* PUSHF/POPF when translated code leaves them to the monitor: IF is a plain bit. */
static enum emu_result do_pushf_popf(struct insn *i, bool pop)
{
	struct vm *vm = i->vm;
	struct cpu *c = &vm->cpu;
	uint32_t esp = c->sh->regs[R_ESP], v;
	int size = i->o16 ? 2 : 4;
	if (!pop) {
		v = cpu_eflags(c) & ~(FL_RF | FL_VM);
		if (insn_access(vm, esp - size, &v, size, true) < 0)
			return EMU_FAULT;
		c->sh->regs[R_ESP] = esp - size;
		return EMU_NEXT;
	}
	v = 0;
	if (insn_access(vm, esp, &v, size, false) < 0)
		return EMU_FAULT;
	uint32_t may = (FL_ARITH | FL_TF | FL_IF | FL_NT | FL_AC | FL_ID) & (size == 2 ? 0xffff : ~0u);
	cpu_set_eflags(c, (cpu_eflags(c) & ~may) | (v & may));
	c->sh->regs[R_ESP] = esp + size;
	return EMU_NEXT;
}

/* A segment load (MOV Sreg, POP Sreg, LDS/LES/LSS/LFS/LGS) of sel into sr: the current
 * level's own selector is a no-op, 0 into DS/ES/FS/GS makes it unusable, anything else
 * is #GP(sel). The LxS forms load their offset register as well. */
static enum emu_result load_sreg(struct insn *i, int sr, uint32_t sel, int off_reg, uint32_t off)
{
	struct cpu *c = i->c;
	uint16_t own = (c->cpl ? PARA_USER_DS : PARA_KERNEL_DS);
	sel &= 0xffff;
	if (sr == SR_CS || (sel != own && (sel > 3 || sr == SR_SS))) {
		exc_raise(i->vm, VEC_GP, true, sel & 0xfffc);
		return EMU_FAULT;
	}
	if (sel == own)
		seg_set(i->vm, sr, own, 0, 0xffffffff, 0xc093 | (uint16_t)(c->cpl << 5));
	else
		seg_set(i->vm, sr, (uint16_t)sel, 0, 0, 0);
	i->vm->segs_stale = true;
	if (off_reg >= 0)
		gpr_write(i, off_reg, i->osize, off);
	return EMU_NEXT;
}

/* The segment loads' operands (SDM Vol. 2: MOV, POP, LDS/LES/LFS/LGS/LSS). */
static enum emu_result do_sreg_load(struct insn *i)
{
	const uint8_t *op = i->op;
	uint32_t v = 0, off = 0;
	uint32_t esp = i->regs[R_ESP];
	int sr;
	switch (op[0] == 0x0f ? 0x100 | op[1] : op[0]) {
	case 0x8e:
		sr = i->reg;
		if (sr > SR_GS) {
			exc_raise(i->vm, VEC_UD, false, 0);
			return EMU_FAULT;
		}
		if (rm_read(i, 2, &v) < 0)
			return EMU_FAULT;
		if (sr == SR_SS) {
			i->c->intr_shadow = true;
			i->vm->dbg.ss_shadow = true;    /* and the single-step trap */
			i->vm->dbg.ss_block = true;
		}
		return load_sreg(i, sr, v, -1, 0);
	case 0x07: case 0x17: case 0x1f: case 0x1a1: case 0x1a9:
		sr = op[0] == 0x07 ? SR_ES : op[0] == 0x17 ? SR_SS : op[0] == 0x1f ? SR_DS :
		     op[1] == 0xa1 ? SR_FS : SR_GS;
		if (insn_access(i->vm, esp, &v, 2, false) < 0)
			return EMU_FAULT;
		if (load_sreg(i, sr, v, -1, 0) != EMU_NEXT)
			return EMU_FAULT;
		i->regs[R_ESP] = esp + i->osize;
		return EMU_NEXT;
	default: {                      /* C4 LES, C5 LDS, 0F B2 LSS, 0F B4 LFS, 0F B5 LGS */
		sr = op[0] == 0xc4 ? SR_ES : op[0] == 0xc5 ? SR_DS : op[1] == 0xb2 ? SR_SS :
		     op[1] == 0xb4 ? SR_FS : SR_GS;
		struct mref m = insn_ea(i);
		if (i->mod == 3) {
			exc_raise(i->vm, VEC_UD, false, 0);
			return EMU_FAULT;
		}
		if (mref_read(i, m, i->osize, &off) < 0)
			return EMU_FAULT;
		m.off += (uint32_t)i->osize;
		if (mref_read(i, m, 2, &v) < 0)
			return EMU_FAULT;
		return load_sreg(i, sr, v, i->reg, off);
	}
	}
}

/* Section 7's rules; EMU_NOT_MINE for what means the same on full x86. */
static enum emu_result para_insn(struct insn *i)
{
	const uint8_t *op = i->op;
	struct cpu *c = i->c;
	switch (op[0]) {
	case 0x0f:
		if (op[1] == 0x01 && i->modrm == 0xc1)
			return do_vmcall(i);
		if (op[1] == 0x01 && (i->reg == 6 || (i->mod != 3 && (i->reg == 2 || i->reg == 3 ||
								     i->reg == 7))))
			return gp0(i->vm);      /* LMSW; LGDT, LIDT, INVLPG */
		if (op[1] == 0x00 && (i->reg == 2 || i->reg == 3))
			return gp0(i->vm);      /* LLDT, LTR */
		switch (op[1]) {
		case 0x06: case 0x08: case 0x09:                /* CLTS, INVD, WBINVD */
		case 0x20: case 0x21: case 0x22: case 0x23:     /* MOV CR, MOV DR */
		case 0x30: case 0x32: case 0x33:                /* WRMSR, RDMSR, RDPMC */
		case 0x34: case 0x35:                           /* SYSENTER, SYSEXIT */
			return gp0(i->vm);
		case 0xa1: case 0xa9: case 0xb2: case 0xb4: case 0xb5:  /* POP FS/GS, LSS/LFS/LGS */
			return do_sreg_load(i);
		}
		return EMU_NOT_MINE;
	case 0xcf:
		return do_iret(i);
	case 0xcd:
		return do_int(i, (int)insn_imm(i, 1), true);
	case 0xcc:
		return do_int(i, VEC_BP, true);
	case 0xce:
		if (!(cpu_eflags(c) & FL_OF))
			return EMU_NEXT;
		return do_int(i, VEC_OF, true);
	case 0xf1:
		return do_int(i, VEC_DB, false);
	case 0xf4:
		if (c->cpl != 0)
			return gp0(i->vm);
		i->vm->para->idle_until = VCLOCK_NEVER;
		c->halted = event_due(i->vm) < 0;
		return EMU_NEXT;
	case 0xfa:
	case 0xfb:
		cpu_set_eflags(c, (cpu_eflags(c) & ~FL_IF) | (op[0] == 0xfb ? FL_IF : 0));
		return EMU_NEXT;
	case 0x9c:
	case 0x9d:
		return do_pushf_popf(i, op[0] == 0x9d);
	case 0xe4 ... 0xe7: case 0xec ... 0xef: case 0x6c ... 0x6f:    /* port I/O */
	case 0xea: case 0x9a: case 0xca: case 0xcb:     /* far JMP, CALL, RET */
		return gp0(i->vm);
	case 0x8e: case 0x07: case 0x17: case 0x1f: case 0xc4: case 0xc5:  /* segment loads */
		return do_sreg_load(i);
	case 0xff:
		if (i->reg == 3 || i->reg == 5)
			return gp0(i->vm);      /* far CALL, far JMP through memory */
		return EMU_NOT_MINE;
	}
	return EMU_NOT_MINE;
}

/* Section 7 first, whatever brought the instruction here (a learnt site may hold other
 * code by now); what means the same as on full x86, learnt memory accesses among it,
 * goes to the full-x86 emulator. */
static void para_callout(struct vm *vm)
{
	struct insn i;
	int r = insn_decode(vm, &i);
	if (r < 0)
		return;
	if (r > 0) {
		exc_raise(vm, r, r == VEC_GP, 0);
		return;
	}
	enum emu_result e = para_insn(&i);
	if (e == EMU_NOT_MINE)
		emulate_callout(vm);    /* CPUID, RDTSC, UD2, SGDT, LAR, memory...: as on x86 */
	else
		emu_commit(&i, e);
}

static void para_host_fault(struct vm *vm)
{
	machine_x86.host_fault(vm);
}

const struct machine_ops machine_para = {
	.name = "para-x86",
	.deliver_exception = para_deliver_exception,
	.check_interrupt = para_check_interrupt,
	.halt = para_halt,
	.callout = para_callout,
	.host_fault = para_host_fault,
};
