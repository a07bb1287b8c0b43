/*
 * sysinsn.c - the system instructions of the callout emulator (insn.h): descriptor
 * tables (SGDT/SIDT/LGDT/LIDT, SLDT/LLDT/STR/LTR, LAR/LSL, VERR/VERW, SMSW/LMSW), control
 * and debug registers, INVLPG, RDMSR/WRMSR, SYSENTER/SYSEXIT. Semantics from the SDM
 * Vol. 2 page of each instruction.
 */
#include "insn.h"

#include <stdio.h>
#include <string.h>
#include <x86intrin.h>

#include "cpuid.h"
#include "exceptions.h"
#include "interrupts.h"
#include "kentry.h"
#include "privilege.h"
#include "segments.h"
#include "task.h"
#include "vm.h"
#include "../devices/clock.h"
#include "../devices/lapic.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../rewriter/sites.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"

/* ---- descriptor-table instructions ---- */

static enum emu_result store_dtr(struct insn *i, const struct dtr *t)
{
	if (i->mod == 3)
		return ud(i);
	struct mref m = insn_ea(i);
	uint8_t buf[6];
	memcpy(buf, &t->limit, 2);
	memcpy(buf + 2, &t->base, 4);
	return emu_done(seg_write(i->vm, m.sr, m.off, buf, 6));
}

static enum emu_result load_dtr(struct insn *i, struct dtr *t)
{
	uint8_t buf[6];
	if (i->mod == 3)
		return ud(i);
	if (!privileged(i))
		return gp0(i);
	struct mref m = insn_ea(i);
	if (seg_read(i->vm, m.sr, m.off, buf, 6) < 0)
		return EMU_FAULT;
	memcpy(&t->limit, buf, 2);
	memcpy(&t->base, buf + 2, 4);
	if (i->o16)
		t->base &= 0x00ffffff;  /* LGDT/LIDT with a 16-bit operand: a 24-bit base */
	return EMU_NEXT;
}

/* LLDT and LTR: a system descriptor from the GDT. */
static enum emu_result load_system_seg(struct insn *i, bool tr)
{
	struct cpu *c = i->c;
	uint32_t v, lin;
	uint64_t d;
	if (!privileged(i))
		return gp0(i);
	if (rm_read(i, 2, &v) < 0)
		return EMU_FAULT;
	uint16_t sel = (uint16_t)v;
	if (sel_is_null(sel)) {
		if (tr)
			return gp0(i);
		c->ldtr = (struct seg){ .sel = sel };
		return EMU_NEXT;
	}
	if ((sel & SEL_TI) || !desc_fetch(i->vm, sel, &d, &lin)) {
		exc_raise(i->vm, VEC_GP, true, sel & SEL_ERR_MASK);
		return EMU_FAULT;
	}
	struct seg s;
	seg_from_desc(&s, sel, d);
	unsigned type = SEG_TYPE(s.attr);
	bool ok = seg_is_system(s.attr) &&
		  (tr ? (type == DESC_TSS16_AVAIL || type == DESC_TSS32_AVAIL) : type == DESC_LDT);
	if (!ok) {
		exc_raise(i->vm, VEC_GP, true, sel & SEL_ERR_MASK);
		return EMU_FAULT;
	}
	if (!seg_present(s.attr)) {
		exc_raise(i->vm, VEC_NP, true, sel & SEL_ERR_MASK);
		return EMU_FAULT;
	}
	if (tr) {
		tss_set_busy(i->vm, lin, d, true);     /* LTR marks the TSS busy */
		s.attr |= SEG_TSS_BUSY;
		c->tr = s;
	} else {
		c->ldtr = s;
	}
	return EMU_NEXT;
}

/*
 * LAR, LSL, VERR, VERW: the descriptor of a selector, if visible from CPL and RPL
 * (SDM Vol. 2). Returns false (ZF=0) for null, out-of-table, wrong type or privilege.
 */
static bool visible_desc(struct insn *i, uint16_t sel, uint64_t *d, bool lsl)
{
	if (sel_is_null(sel) || !desc_fetch(i->vm, sel, d, NULL))
		return false;
	uint16_t attr = DESC_ATTR(*d);
	unsigned dpl = SEG_DPL(attr);
	if (!seg_is_system(attr)) {
		if (seg_is_conforming(attr))    /* no privilege check */
			return true;
	} else {
		/* The system types LAR and LSL report (SDM Vol. 2, LAR, LSL): no interrupt
		 * or trap gates; LSL no gates at all. */
		static const bool lar_ok[16] = {
			[DESC_TSS16_AVAIL] = 1, [DESC_LDT] = 1, [DESC_TSS16_BUSY] = 1,
			[DESC_CALL_GATE16] = 1, [DESC_TASK_GATE] = 1, [DESC_TSS32_AVAIL] = 1,
			[DESC_TSS32_BUSY] = 1, [DESC_CALL_GATE32] = 1,
		};
		static const bool lsl_ok[16] = {
			[DESC_TSS16_AVAIL] = 1, [DESC_LDT] = 1, [DESC_TSS16_BUSY] = 1,
			[DESC_TSS32_AVAIL] = 1, [DESC_TSS32_BUSY] = 1,
		};
		if (!(lsl ? lsl_ok : lar_ok)[SEG_TYPE(attr)])
			return false;
	}
	return dpl >= (unsigned)i->c->cpl && dpl >= SEL_RPL(sel);
}

enum emu_result do_lar_lsl(struct insn *i, bool lsl)
{
	uint32_t v;
	uint64_t d;
	if (rm_read(i, 2, &v) < 0)
		return EMU_FAULT;
	if (!visible_desc(i, (uint16_t)v, &d, lsl)) {
		set_zf(i, false);
		return EMU_NEXT;
	}
	uint32_t r;
	if (lsl) {
		struct seg s;
		seg_from_desc(&s, (uint16_t)v, d);
		r = s.limit;
	} else {
		r = (uint32_t)(d >> 32) & 0x00f0ff00u;  /* the access rights: bits 8-23 */
	}
	gpr_write(i, i->reg, i->o16 ? 2 : 4, r);
	set_zf(i, true);
	return EMU_NEXT;
}

enum emu_result do_verr_verw(struct insn *i, bool write)
{
	uint32_t v;
	uint64_t d;
	if (rm_read(i, 2, &v) < 0)
		return EMU_FAULT;
	bool ok = visible_desc(i, (uint16_t)v, &d, false);
	uint16_t attr = DESC_ATTR(d);
	if (ok && seg_is_system(attr))
		ok = false;
	if (ok && write)
		ok = seg_is_data_writable(attr);
	else if (ok)
		ok = seg_is_readable(attr);
	/* The privilege check a load into DS makes: none for conforming code read by
	 * VERR (visible_desc passed it); VERW accepts no code at all. */
	if (ok && !(seg_is_conforming(attr) && !write) &&
	    (SEG_DPL(attr) < (unsigned)i->c->cpl || SEG_DPL(attr) < SEL_RPL(v)))
		ok = false;
	set_zf(i, ok);
	return EMU_NEXT;
}

enum emu_result group6(struct insn *i)          /* 0F 00 */
{
	struct cpu *c = i->c;
	switch (i->reg) {
	case 0:         /* SLDT */
	case 1: {       /* STR */
		uint16_t sel = i->reg == 0 ? c->ldtr.sel : c->tr.sel;
		return emu_done(rm_write(i, i->mod == 3 && !i->o16 ? 4 : 2, sel));
	}
	case 2:
		return load_system_seg(i, false);
	case 3:
		return load_system_seg(i, true);
	case 4:
		return do_verr_verw(i, false);
	case 5:
		return do_verr_verw(i, true);
	}
	return ud(i);
}

static enum emu_result do_lmsw(struct insn *i, uint32_t v)
{
	if (!privileged(i))
		return gp0(i);
	/* LMSW loads PE, MP, EM, TS and cannot clear PE. */
	const uint32_t msw = CR0_PE | CR0_MP | CR0_EM | CR0_TS;
	i->c->cr0 = (i->c->cr0 & ~(msw & ~CR0_PE)) | (v & msw) | (i->c->cr0 & CR0_PE);
	return EMU_NEXT;
}

/* RDTSCP (0F 01 F9, CPUID.80000001H:EDX.RDTSCP): the guest's TSC as RDTSC reads it,
 * and IA32_TSC_AUX in ECX; CR4.TSD makes it privileged (SDM Vol. 2, RDTSCP). A callout
 * where RDTSC is one (a TSC offset, TSD); else in line (rewriter/mangle_state.c). */
static enum emu_result do_rdtscp(struct insn *i)
{
	struct cpu *c = i->c;
	if ((c->cr4 & CR4_TSD) && c->cpl)
		return gp0(i);
	uint64_t t = guest_tsc(c);
	REGS(i)[R_EAX] = (uint32_t)t;
	REGS(i)[R_EDX] = (uint32_t)(t >> 32);
	REGS(i)[R_ECX] = c->sh->tsc_aux;
	return EMU_NEXT;
}

enum emu_result group7(struct insn *i)          /* 0F 01 */
{
	struct cpu *c = i->c;
	if (i->mod == 3) {
		if (i->reg == 4)
			return emu_done(rm_write(i, i->osize, i->o16 ? c->cr0 & 0xffff : c->cr0));
		if (i->reg == 6)
			return do_lmsw(i, gpr_read(i, i->rm, 2));
		if (i->reg == 7 && i->rm == 1)
			return do_rdtscp(i);
		return ud(i);       /* monitor, mwait, xgetbv...: not advertised */
	}
	switch (i->reg) {
	case 0:
		return store_dtr(i, &c->gdtr);
	case 1:
		return store_dtr(i, &c->idtr);
	case 2:
	{
		/* Translated DS/ES reloads read the GDT at the address it had then
		 * (K_SREG_LOAD): a GDT that moves or shrinks takes them all. */
		struct dtr old = c->gdtr;
		enum emu_result r = load_dtr(i, &c->gdtr);
		if (r != EMU_NEXT)
			return r;
		if (c->gdtr.base != old.base || c->gdtr.limit < old.limit) {
			cc_flush(i->vm->cc);
			sites_clear(&i->vm->sites);
		}
		fs_alt_publish(i->vm);  /* where FS's descriptors lie now */
		gs_cache_clear(i->vm);  /* the GS cache's lie where they did */
		return EMU_NEXT;
	}
	case 3:
		return load_dtr(i, &c->idtr);
	case 4:
		return emu_done(rm_write(i, 2, c->cr0 & 0xffff));
	case 6: {
		uint32_t v;
		if (rm_read(i, 2, &v) < 0)
			return EMU_FAULT;
		return do_lmsw(i, v);
	}
	case 7: {       /* INVLPG */
		if (!privileged(i))
			return gp0(i);
		struct mref m = insn_ea(i);
		mmu_invlpg(i->vm->mmu, c->seg[m.sr].base + m.off);
		return EMU_NEXT;
	}
	}
	return ud(i);
}

/* ---- control registers, MSRs, time ---- */

#define CR4_KNOWN       (CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT)

enum emu_result mov_cr(struct insn *i, bool to_cr)
{
	struct cpu *c = i->c;
	int n = i->reg;
	if (!privileged(i))
		return gp0(i);
	if (n == 1 || n > 4)
		return ud(i);
	if (!to_cr) {
		uint32_t v = n == 0 ? c->cr0 : n == 2 ? c->sh->cr2 : n == 3 ? c->cr3 : c->cr4;
		REGS(i)[i->rm] = v;
		return EMU_NEXT;
	}
	uint32_t v = REGS(i)[i->rm];
	i->vm->stats.cr_writes[n]++;
	switch (n) {
	case 0: {
		if ((v & CR0_PG) && !(v & CR0_PE))
			return gp0(i);
		if ((v & CR0_NW) && !(v & CR0_CD))
			return gp0(i);
		if (!(v & CR0_PE))
			return unsupported(i, "a return to real mode (CR0.PE = 0)");
		uint32_t old = c->cr0, new = v | CR0_ET;
		/* PAE paging in use after a change of PG, CD or NW: the PDPTEs are loaded
		 * from CR3, and a bad one fails the MOV (SDM Vol. 3, 4.4.1). */
		if ((new & CR0_PG) && (c->cr4 & CR4_PAE) &&
		    ((old ^ new) & (CR0_PG | CR0_CD | CR0_NW)) && !walk_load_pdptes(&i->vm->cpu, &i->vm->mem, c->cr3))
			return gp0(i);
		c->cr0 = new;
		if ((old ^ new) & (CR0_PG | CR0_WP))
			mmu_paging_changed(i->vm->mmu);
		/* Code translated with paging off is never global: kept, it would sit on
		 * the list each CR3 load checks for good, though most of it (a boot path)
		 * never runs again. What runs again is translated again, global or not. */
		if (!(old & CR0_PG) && (new & CR0_PG))
			cc_flush(i->vm->cc);
		return EMU_NEXT;
	}
	case 2:
		c->sh->cr2 = v;
		return EMU_NEXT;
	case 3:
		/* All but global pages go (SDM Vol. 3, 4.10.4.1); under PAE paging the
		 * PDPTEs are loaded first, and a bad one fails the MOV (4.4.1). */
		if (mmu_load_cr3(i->vm->mmu, v) < 0)
			return gp0(i);
		return EMU_NEXT;
	case 4: {
		if (v & ~(CR4_KNOWN | CR4_TSD))
			return gp0(i);
		uint32_t old = c->cr4;
		/* Paging on, PAE after the write and PAE, PGE or PSE changed: the PDPTEs
		 * are loaded (4.4.1); the change between 32-bit and PAE paging is allowed
		 * with CR0.PG = 1 outside IA-32e mode (4.1.2). */
		if ((c->cr0 & CR0_PG) && (v & CR4_PAE) &&
		    ((old ^ v) & (CR4_PAE | CR4_PGE | CR4_PSE)) && !walk_load_pdptes(&i->vm->cpu, &i->vm->mem, c->cr3))
			return gp0(i);
		c->cr4 = v;
		if ((old ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE))
			mmu_paging_changed(i->vm->mmu);
		if ((old ^ v) & CR4_DE)
			dbg_rearm(i->vm);       /* I/O breakpoints come or go */
		return EMU_NEXT;
	}
	}
	return ud(i);
}

enum emu_result mov_dr(struct insn *i, bool to_dr)
{
	struct cpu *c = i->c;
	int n = i->reg;
	if (!privileged(i))
		return gp0(i);
	/* DR4 and DR5 are aliases of DR6 and DR7 while CR4.DE is clear, and #UD under it
	 * (SDM Vol. 3, 18.2.2). */
	if (n == 4 || n == 5) {
		if (c->cr4 & CR4_DE)
			return ud(i);
		n += 2;
	}
	if (dbg_general_detect(i->vm))
		return EMU_FAULT;
	if (to_dr) {
		c->dr[n] = REGS(i)[i->rm];
		if (n != 6)
			dbg_rearm(i->vm);
	} else
		REGS(i)[i->rm] = n == 6 ? c->dr[6] | DR6_ONES : n == 7 ? c->dr[7] | DR7_ONES : c->dr[n];
	return EMU_NEXT;
}

uint64_t guest_tsc(struct cpu *c) { return __rdtsc() - c->tsc_base; }

#define MSR_TSC                 0x10
#define MSR_TSC_ADJUST          0x3b    /* exists as CPUID.(EAX=7):EBX.TSC_ADJUST is set */
#define MSR_SYSENTER_CS         0x174
#define MSR_SYSENTER_ESP        0x175
#define MSR_SYSENTER_EIP        0x176
#define MSR_EFER                0xc0000080      /* exists as CPUID.80000001H:EDX.NX is set */
#define MSR_TSC_AUX             0xc0000103      /* exists as CPUID.80000001H:EDX.RDTSCP is set */
/* What an Intel family-6 kernel reads of the virtual CPU (cpuid.c), as QEMU answers:
 * the microcode revision (0: the write before the read, SDM Vol. 3, 10.11.7.1, is
 * accepted and ignored), IA32_MISC_ENABLE with fast strings on; its writes are
 * accepted and change nothing. */
/* IA32_ARCH_CAPABILITIES (exists as CPUID.(EAX=7,ECX=0):EDX[29] is set; read-only, SDM
 * Vol. 4, Table 2-2): MDS_NO and TAA_NO. The guest's clearing of CPU buffers (VERW on
 * every return to user mode, Linux's MDS mitigation for a family-6 CPU it does not
 * know) protects nothing here: VERW is emulated and never reaches the host CPU's
 * buffers, so the guest is told it need not, and saves a monitor exit per system call.
 * docs/architecture.md, "Virtual CPU". */
#define MSR_ARCH_CAPABILITIES   0x10a
#define ARCH_CAP_MDS_NO         (1u << 5)
#define ARCH_CAP_TAA_NO         (1u << 8)
#define MSR_APIC_BASE           0x1b    /* the local APIC's (devices/lapic.h) */
#define MSR_TSC_DEADLINE        0x6e0   /* exists as CPUID.1:ECX.TSC_DEADLINE is set */
#define MSR_UCODE_REV           0x8b
#define MSR_MISC_ENABLE         0x1a0
#define MISC_ENABLE_FAST_STRING 0x1u

/* The vclock time (ns) at which the guest's TSC reaches tsc; 0 stays 0 (disarm). */
static uint64_t tsc_to_vclock(struct vm *vm, uint64_t tsc)
{
	if (!tsc)
		return 0;
	cpuid_tsc_hz(vm);
	uint64_t now_tsc = guest_tsc(&vm->cpu), now = vclock_now(&vm->clock);
	if (tsc <= now_tsc)
		return now;
	unsigned __int128 ns = (unsigned __int128)(tsc - now_tsc) * 1000000000u / vm->tsc_hz;
	return ns > VCLOCK_NEVER - 1 - now ? VCLOCK_NEVER - 1 : now + (uint64_t)ns;
}

enum emu_result do_msr(struct insn *i, bool write)
{
	struct cpu *c = i->c;
	uint32_t idx = REGS(i)[R_ECX];
	uint64_t v = (uint64_t)REGS(i)[R_EDX] << 32 | REGS(i)[R_EAX];
	if (!privileged(i))
		return gp0(i);
	switch (idx) {
	case MSR_TSC:
		/* A write moves TSC_ADJUST by the same amount (SDM Vol. 3, 18.17.3). */
		if (write) {
			uint64_t now = __rdtsc();
			c->tsc_adjust += v - (now - c->tsc_base);
			c->tsc_base = now - v;
		} else {
			v = guest_tsc(c);
		}
		break;
	case MSR_TSC_ADJUST:
		if (write) {
			c->tsc_base -= v - c->tsc_adjust;
			c->tsc_adjust = v;
		}
		v = c->tsc_adjust;
		break;
	case MSR_SYSENTER_CS:
		if (write)
			c->sysenter_cs = (uint32_t)v;
		v = c->sysenter_cs;
		break;
	case MSR_SYSENTER_ESP:
		if (write)
			c->sysenter_esp = (uint32_t)v;
		v = c->sysenter_esp;
		break;
	case MSR_SYSENTER_EIP:
		if (write)
			c->sysenter_eip = (uint32_t)v;
		v = c->sysenter_eip;
		break;
	case MSR_ARCH_CAPABILITIES:
		if (write)
			return gp0(i);
		v = ARCH_CAP_MDS_NO | ARCH_CAP_TAA_NO;
		break;
	case MSR_APIC_BASE:
		if (write && !lapic_set_base_msr(i->vm->lapic, v))
			return gp0(i);
		v = lapic_base_msr(i->vm->lapic);
		break;
	case MSR_TSC_DEADLINE:
		if (write) {
			lapic_set_tsc_deadline(i->vm->lapic, v, tsc_to_vclock(i->vm, v));
			i->vm->io_dirty = true;         /* the board's deadlines moved */
		}
		v = lapic_tsc_deadline(i->vm->lapic);
		break;
	case MSR_UCODE_REV:
		v = 0;
		break;
	case MSR_MISC_ENABLE:
		v = MISC_ENABLE_FAST_STRING;
		break;
	case MSR_TSC_AUX:
		/* Bits 63:32 are reserved: a write that sets one is #GP(0) (SDM Vol. 4). */
		if (write && (v >> 32))
			return gp0(i);
		if (write)
			c->sh->tsc_aux = (uint32_t)v;
		v = c->sh->tsc_aux;
		break;
	case MSR_EFER:
		/* Only NXE: SCE, LME and the rest are reserved for a CPU without SYSCALL
		 * and long mode, and setting one is #GP(0) (SDM Vol. 4, IA32_EFER). */
		if (write) {
			if (v & ~(uint64_t)EFER_NXE)
				return gp0(i);
			uint64_t old = c->efer;
			c->efer = v;
			if (((old ^ v) & EFER_NXE) && (c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE))
				mmu_paging_changed(i->vm->mmu);      /* XD means something else now */
		}
		v = c->efer;
		break;
	default:
		return gp0(i);
	}
	if (!write) {
		REGS(i)[R_EAX] = (uint32_t)v;
		REGS(i)[R_EDX] = (uint32_t)(v >> 32);
	}
	return EMU_NEXT;
}

enum emu_result do_sysenter(struct insn *i)
{
	struct cpu *c = i->c;
	struct seg cs, ss;
	if (!(c->sysenter_cs & SEL_ERR_MASK))
		return gp0(i);
	/* SDM Vol. 2B, SYSENTER: flat CPL-0 CS and SS, IF/VM/RF cleared. */
	kentry_flat_segs(c->sysenter_cs, 0, &cs, &ss);
	c->cpl = 0;
	seg_set(i->vm, SR_CS, cs.sel, cs.base, cs.limit, cs.attr);
	seg_set(i->vm, SR_SS, ss.sel, ss.base, ss.limit, ss.attr);
	cpu_set_eflags(c, cpu_eflags(c) & ~(FL_IF | FL_VM | FL_RF));
	REGS(i)[R_ESP] = c->sysenter_esp;
	c->sh->eip = c->sysenter_eip;
	kentry_want(i->vm);             /* the next ones may run in line */
	return EMU_JUMPED;
}

enum emu_result do_sysexit(struct insn *i)
{
	struct cpu *c = i->c;
	struct seg cs, ss;
	if (!privileged(i) || !(c->sysenter_cs & SEL_ERR_MASK))
		return gp0(i);
	/* SDM Vol. 2B, SYSEXIT: flat CPL-3 CS and SS, RPL 3. */
	kentry_flat_segs(c->sysenter_cs, 3, &cs, &ss);
	c->cpl = 3;
	seg_set(i->vm, SR_CS, cs.sel, cs.base, cs.limit, cs.attr);
	seg_set(i->vm, SR_SS, ss.sel, ss.base, ss.limit, ss.attr);
	REGS(i)[R_ESP] = REGS(i)[R_ECX];
	c->sh->eip = REGS(i)[R_EDX];
	kentry_want(i->vm);
	return EMU_JUMPED;
}
