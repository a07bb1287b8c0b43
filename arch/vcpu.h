/*
 * vcpu.h - the virtual CPU: the block translated code shares with the monitor at
 * VCPU_ADDR (its layout is the ABI of emitted code and enter.S: layout.h's VC_*
 * offsets, checked here), and the state only the monitor keeps (struct cpu).
 */
#ifndef TRAPEZE_VCPU_H
#define TRAPEZE_VCPU_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "x86.h"

/* The part of the vCPU that translated code reads and writes, at VCPU_ADDR. */
struct vcpu_shared {
	uint32_t regs[8];
	uint32_t eflags;
	uint32_t eip;
	uint32_t exit;
	uint32_t save_eax, save_ecx, tmp;
	uint32_t farptr_off;
	uint16_t farptr_sel, pad0;
	uint64_t host_rsp;
	uint64_t host_fsbase;
	uint16_t hsel[SR_COUNT];
	uint16_t hsel_ggs, hsel_ggs_wrap;
	uint16_t gsel[SR_COUNT];
	uint32_t pad2;
	uint32_t lookup;
	uint32_t have_fsgs;
	uint32_t run;
	uint32_t vif;
	uint32_t irq;
	uint32_t vflags;                /* EFLAGS bits outside FL_ARITH and IF, bit 1 included */
	uint32_t br_eip;
	int32_t br_delta;
	uint32_t sti_eip;
	uint16_t hsel_nfs, pad4;
	uint32_t gsel32[SR_COUNT];
	uint32_t fpu_saved;
	uint32_t ggs_base;
	uint64_t ldesc[SR_COUNT];       /* struct seg's raw, for translated code */
	uint32_t fsalt_nsel, fsalt_dlin, fsalt_ndesc[2], fsalt_hsel;
	uint32_t fs_swaps;
	uint32_t fs_dlin, pad5;
	uint64_t zero8, ones8;
	uint32_t k_enter_ok, k_exit_ok[3], k_cpl, k_count, k_esp0, k_eip0, k_nfs0, k_kind;
	struct kentry_set {
		uint16_t hsel[SR_COUNT + 2];
		uint16_t gsel_cs, gsel_ss;
		uint32_t gsel32_cs, gsel32_ss;
		uint16_t nfs, pad;
	} k_set[4];                     /* KIND_*: SYSENTER's, SYSEXIT's, INT's, IRET's */
	uint32_t tsc_aux;
	uint32_t cr2;
	uint32_t k_int_ok, k_int_nvec, k_int_gate, k_int_ngate[2], k_int_csd, k_int_ncsd[2];
	uint32_t k_int_tss, k_int_nss0, k_int_ssd, k_int_nssd[2], k_int_eip, k_int_ifmask;
	uint32_t k_iret_ok[3], k_iret_ncs, k_iret_nss, k_iret_csd, k_iret_ncsd[2];
	uint32_t k_iret_ssd, k_iret_nssd[2], k_iret_vfl, k_iret_nfss, k_iret_ngss, k_iret_nggs0;
	uint32_t k_tmp, k_flslot;
	uint32_t ggs_flat, gs_loads, gs_last;
	uint8_t pad3[VC_FX - 596];
	uint8_t fx[512] __attribute__((aligned(16)));
	struct gs_entry {
		uint32_t nsel, dlin, ndesc[2], sel, base;
		uint16_t hsel0[2], hsel3[2];
		uint32_t nflat;
	} gsc[GSC_ENTRIES];
};
static_assert(offsetof(struct vcpu_shared, eflags) == VC_EFLAGS, "VC_EFLAGS");
static_assert(offsetof(struct vcpu_shared, save_eax) == VC_SAVE_EAX, "VC_SAVE_EAX");
static_assert(offsetof(struct vcpu_shared, tmp) == VC_TMP, "VC_TMP");
static_assert(offsetof(struct vcpu_shared, farptr_off) == VC_FARPTR, "VC_FARPTR");
static_assert(offsetof(struct vcpu_shared, host_rsp) == VC_HOST_RSP, "VC_HOST_RSP");
static_assert(offsetof(struct vcpu_shared, host_fsbase) == VC_HOST_FSBASE, "VC_HOST_FSBASE");
static_assert(offsetof(struct vcpu_shared, hsel) == VC_HSEL, "VC_HSEL");
static_assert(offsetof(struct vcpu_shared, gsel) == VC_GSEL, "VC_GSEL");
static_assert(offsetof(struct vcpu_shared, gsel32) == VC_GSEL32, "VC_GSEL32");
static_assert(offsetof(struct vcpu_shared, fpu_saved) == VC_FPU_SAVED, "VC_FPU_SAVED");
static_assert(offsetof(struct vcpu_shared, ggs_base) == VC_GGS_BASE, "VC_GGS_BASE");
static_assert(offsetof(struct vcpu_shared, ldesc) == VC_LDESC, "VC_LDESC");
static_assert(offsetof(struct vcpu_shared, fsalt_nsel) == VC_FSALT_NSEL, "VC_FSALT_NSEL");
static_assert(offsetof(struct vcpu_shared, fsalt_dlin) == VC_FSALT_DLIN, "VC_FSALT_DLIN");
static_assert(offsetof(struct vcpu_shared, fsalt_ndesc) == VC_FSALT_NDESC, "VC_FSALT_NDESC");
static_assert(offsetof(struct vcpu_shared, fsalt_hsel) == VC_FSALT_HSEL, "VC_FSALT_HSEL");
static_assert(offsetof(struct vcpu_shared, fs_swaps) == VC_FS_SWAPS, "VC_FS_SWAPS");
static_assert(offsetof(struct vcpu_shared, fs_dlin) == VC_FS_DLIN, "VC_FS_DLIN");
static_assert(offsetof(struct vcpu_shared, zero8) == VC_ZERO8, "VC_ZERO8");
static_assert(offsetof(struct vcpu_shared, ones8) == VC_ONES8, "VC_ONES8");
static_assert(offsetof(struct vcpu_shared, hsel_ggs) == VC_HSEL_GGS, "VC_HSEL_GGS");
static_assert(offsetof(struct vcpu_shared, hsel_ggs_wrap) == VC_HSEL_GGS_WRAP, "VC_HSEL_GGS_WRAP");
static_assert(offsetof(struct vcpu_shared, lookup) == VC_LOOKUP, "VC_LOOKUP");
static_assert(offsetof(struct vcpu_shared, have_fsgs) == VC_HAVE_FSGS, "VC_HAVE_FSGS");
static_assert(offsetof(struct vcpu_shared, run) == VC_RUN, "VC_RUN");
static_assert(offsetof(struct vcpu_shared, vif) == VC_VIF, "VC_VIF");
static_assert(offsetof(struct vcpu_shared, irq) == VC_IRQ, "VC_IRQ");
static_assert(offsetof(struct vcpu_shared, vflags) == VC_VFLAGS, "VC_VFLAGS");
static_assert(offsetof(struct vcpu_shared, br_eip) == VC_BR_EIP, "VC_BR_EIP");
static_assert(offsetof(struct vcpu_shared, br_delta) == VC_BR_DELTA, "VC_BR_DELTA");
static_assert(offsetof(struct vcpu_shared, sti_eip) == VC_STI_EIP, "VC_STI_EIP");
static_assert(offsetof(struct vcpu_shared, hsel_nfs) == VC_HSEL_NFS, "VC_HSEL_NFS");
static_assert(offsetof(struct vcpu_shared, k_enter_ok) == VC_K_ENTER_OK, "VC_K_ENTER_OK");
static_assert(offsetof(struct vcpu_shared, k_exit_ok) == VC_K_EXIT_OK, "VC_K_EXIT_OK");
static_assert(offsetof(struct vcpu_shared, k_cpl) == VC_K_CPL, "VC_K_CPL");
static_assert(offsetof(struct vcpu_shared, k_count) == VC_K_COUNT, "VC_K_COUNT");
static_assert(offsetof(struct vcpu_shared, k_esp0) == VC_K_ESP0, "VC_K_ESP0");
static_assert(offsetof(struct vcpu_shared, k_eip0) == VC_K_EIP0, "VC_K_EIP0");
static_assert(offsetof(struct vcpu_shared, k_nfs0) == VC_K_NFS0, "VC_K_NFS0");
static_assert(offsetof(struct vcpu_shared, k_set) == VC_K_SET0, "VC_K_SET0");
static_assert(offsetof(struct vcpu_shared, k_set[1]) == VC_K_SET3, "VC_K_SET3");
static_assert(offsetof(struct vcpu_shared, k_set[KIND_INT]) == VC_K_SET_INT, "VC_K_SET_INT");
static_assert(offsetof(struct vcpu_shared, k_set[KIND_IRET]) == VC_K_SET_IRET, "VC_K_SET_IRET");
static_assert(offsetof(struct vcpu_shared, k_kind) == VC_K_KIND, "VC_K_KIND");
static_assert(offsetof(struct vcpu_shared, k_int_ok) == VC_K_INT_OK, "VC_K_INT_OK");
static_assert(offsetof(struct vcpu_shared, k_int_nvec) == VC_K_INT_NVEC, "VC_K_INT_NVEC");
static_assert(offsetof(struct vcpu_shared, k_int_gate) == VC_K_INT_GATE, "VC_K_INT_GATE");
static_assert(offsetof(struct vcpu_shared, k_int_csd) == VC_K_INT_CSD, "VC_K_INT_CSD");
static_assert(offsetof(struct vcpu_shared, k_int_tss) == VC_K_INT_TSS, "VC_K_INT_TSS");
static_assert(offsetof(struct vcpu_shared, k_int_ssd) == VC_K_INT_SSD, "VC_K_INT_SSD");
static_assert(offsetof(struct vcpu_shared, k_int_eip) == VC_K_INT_EIP, "VC_K_INT_EIP");
static_assert(offsetof(struct vcpu_shared, k_int_ifmask) == VC_K_INT_IFMASK, "VC_K_INT_IFMASK");
static_assert(offsetof(struct vcpu_shared, k_iret_ok) == VC_K_IRET_OK, "VC_K_IRET_OK");
static_assert(offsetof(struct vcpu_shared, k_iret_ncs) == VC_K_IRET_NCS, "VC_K_IRET_NCS");
static_assert(offsetof(struct vcpu_shared, k_iret_nss) == VC_K_IRET_NSS, "VC_K_IRET_NSS");
static_assert(offsetof(struct vcpu_shared, k_iret_csd) == VC_K_IRET_CSD, "VC_K_IRET_CSD");
static_assert(offsetof(struct vcpu_shared, k_iret_ssd) == VC_K_IRET_SSD, "VC_K_IRET_SSD");
static_assert(offsetof(struct vcpu_shared, k_iret_vfl) == VC_K_IRET_VFL, "VC_K_IRET_VFL");
static_assert(offsetof(struct vcpu_shared, k_iret_nfss) == VC_K_IRET_NFSS, "VC_K_IRET_NFSS");
static_assert(offsetof(struct vcpu_shared, k_iret_ngss) == VC_K_IRET_NGSS, "VC_K_IRET_NGSS");
static_assert(offsetof(struct vcpu_shared, k_iret_nggs0) == VC_K_IRET_NGGS0, "VC_K_IRET_NGGS0");
static_assert(offsetof(struct vcpu_shared, k_tmp) == VC_K_TMP, "VC_K_TMP");
static_assert(offsetof(struct vcpu_shared, k_flslot) == VC_K_FLSLOT, "VC_K_FLSLOT");
static_assert(sizeof(struct kentry_set) == KSET_SIZE, "KSET_SIZE");
static_assert(offsetof(struct kentry_set, gsel_cs) == KSET_GSEL_CSSS, "KSET_GSEL_CSSS");
static_assert(offsetof(struct kentry_set, gsel32_cs) == KSET_GSEL32, "KSET_GSEL32");
static_assert(offsetof(struct kentry_set, nfs) == KSET_NFS, "KSET_NFS");
static_assert(VC_HSEL_GGS == VC_HSEL + 2 * SR_COUNT && VC_HSEL_GGS_WRAP == VC_HSEL_GGS + 2,
	      "a kentry_set's hsel copies VC_HSEL .. VC_HSEL_GGS_WRAP in one run");
static_assert(SR_SS == SR_CS + 1, "a kentry_set's CS and SS selectors are adjacent");
static_assert(offsetof(struct vcpu_shared, tsc_aux) == VC_TSC_AUX, "VC_TSC_AUX");
static_assert(offsetof(struct vcpu_shared, cr2) == VC_CR2, "VC_CR2");
static_assert(offsetof(struct vcpu_shared, fx) == VC_FX, "VC_FX");
static_assert(offsetof(struct vcpu_shared, ggs_flat) == VC_GGS_FLAT, "VC_GGS_FLAT");
static_assert(offsetof(struct vcpu_shared, gs_loads) == VC_GS_LOADS, "VC_GS_LOADS");
static_assert(offsetof(struct vcpu_shared, gs_last) == VC_GS_LAST, "VC_GS_LAST");
static_assert(offsetof(struct vcpu_shared, gsc) == VC_GSC, "VC_GSC");
static_assert(sizeof(struct gs_entry) == GSC_SIZE, "GSC_SIZE");
static_assert(offsetof(struct gs_entry, dlin) == GSC_DLIN, "GSC_DLIN");
static_assert(offsetof(struct gs_entry, ndesc) == GSC_NDESC, "GSC_NDESC");
static_assert(offsetof(struct gs_entry, sel) == GSC_SEL, "GSC_SEL");
static_assert(offsetof(struct gs_entry, base) == GSC_BASE, "GSC_BASE");
static_assert(offsetof(struct gs_entry, hsel0) == GSC_HSEL0, "GSC_HSEL0");
static_assert(offsetof(struct gs_entry, hsel3) == GSC_HSEL3, "GSC_HSEL3");
static_assert(offsetof(struct gs_entry, nflat) == GSC_NFLAT, "GSC_NFLAT");
static_assert((VC_K_SET0 + KSET_HSEL + 2 * SR_COUNT) % 4 == 0 &&
	      (VC_K_SET3 + KSET_HSEL + 2 * SR_COUNT) % 4 == 0 && VC_HSEL_GGS % 4 == 0,
	      "a GS load stores each pair of GS shadows as one dword");

/* The exception the monitor will deliver before the guest runs again. */
struct pending_exc {
	bool pending;
	uint8_t vector;
	bool has_err;
	uint32_t err;
};

struct cpu {
	struct vcpu_shared *sh;         /* = (void *)VCPU_ADDR */
	struct seg seg[SR_COUNT];
	struct seg fs_alt;              /* FS before its last load (VC_FSALT_*, segments.c) */
	uint32_t fs_swaps_seen;         /* sh->fs_swaps when fs_alt was last in step */
	struct dtr gdtr, idtr;
	struct seg ldtr, tr;
	uint32_t cr0, cr3, cr4;         /* CR2 is the vCPU block's (VC_CR2) */
	uint64_t pdpte[4];              /* PAE paging's PDPTE registers (SDM Vol. 3, 4.4.1),
					   loaded from CR3 by walk_load_pdptes() */
	uint64_t efer;                  /* IA32_EFER: NXE or 0 */
	uint32_t dr[8];
	int cpl;
	uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc_base;              /* host TSC when the guest's TSC was 0 */
	uint64_t tsc_adjust;            /* IA32_TSC_ADJUST (SDM Vol. 3, 18.17.3) */
	struct pending_exc exc;
	int delivering;                 /* nesting of exception delivery, for #DF */
	bool halted;                    /* in HLT, waiting for an interrupt */
	bool nmi_blocked;               /* in an NMI handler: no NMI until the next IRET
					   (SDM Vol. 3, 6.7.1) */
	uint32_t deliveries;            /* events delivered through the IDT (a counter) */
	bool rf;                        /* EFLAGS.RF: the next instruction's breakpoint is
					   ignored (SDM Vol. 3, 18.3.1.1) */
	bool intr_shadow;               /* after STI or MOV SS: no interrupt before the next
					   instruction (SDM Vol. 2, STI; Vol. 3, 6.8.3) */
};

/* The guest's full EFLAGS and setting it: arithmetic flags in the host's EFLAGS image,
 * IF and the rest in the vCPU block (translated CLI/STI/PUSHF/POPF use them). */
static inline uint32_t cpu_eflags(const struct cpu *c)
{
	return (c->sh->eflags & FL_ARITH) | c->sh->vif | c->sh->vflags | (c->rf ? FL_RF : 0);
}
static inline void cpu_set_eflags(struct cpu *c, uint32_t f)
{
	c->sh->eflags = (f & FL_ARITH) | FL_IF | FL_1;
	c->sh->vif = f & FL_IF;
	c->sh->vflags = (f & ~(FL_ARITH | FL_IF | FL_RF | FL_VM)) | FL_1;
	c->rf = f & FL_RF;
}
static inline bool cpu_if(const struct cpu *c) { return c->sh->vif != 0; }

#endif
