/*
 * vm.h - one virtual machine: its configuration, its vCPU and its subsystems.
 *
 * A struct vm is created by vm_create(), loaded by a boot loader, run by cpu_run()
 * and torn down by vm_destroy(). Every subsystem takes the vm explicitly; the only
 * global is the per-thread pointer the signal handlers use to find their VM
 * (signals.c).
 */
#ifndef TRAPEZE_VM_H
#define TRAPEZE_VM_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "layout.h"
#include "../devices/clock.h"
#include "../rewriter/sites.h"

/* Segment register numbers in x86 encoding order. */
enum { SR_ES, SR_CS, SR_SS, SR_DS, SR_FS, SR_GS, SR_COUNT };
enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };

/* EFLAGS bits (SDM Vol. 1, 3.4.3). */
#define FL_CF   0x00000001u
#define FL_1    0x00000002u
#define FL_PF   0x00000004u
#define FL_AF   0x00000010u
#define FL_ZF   0x00000040u
#define FL_SF   0x00000080u
#define FL_TF   0x00000100u
#define FL_IF   0x00000200u
#define FL_DF   0x00000400u
#define FL_OF   0x00000800u
#define FL_IOPL 0x00003000u
#define FL_NT   0x00004000u
#define FL_RF   0x00010000u
#define FL_VM   0x00020000u
#define FL_AC   0x00040000u
#define FL_VIF  0x00080000u
#define FL_VIP  0x00100000u
#define FL_ID   0x00200000u
/* Flags that run natively in the host's EFLAGS; the rest are virtual. */
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF | FL_DF)

#define CR0_PE  0x00000001u
#define CR0_MP  0x00000002u
#define CR0_EM  0x00000004u
#define CR0_TS  0x00000008u
#define CR0_ET  0x00000010u
#define CR0_NE  0x00000020u
#define CR0_WP  0x00010000u
#define CR0_AM  0x00040000u
#define CR0_NW  0x20000000u
#define CR0_CD  0x40000000u
#define CR0_PG  0x80000000u

#define CR4_TSD         0x00000004u
#define CR4_PSE         0x00000010u
#define CR4_PAE         0x00000020u
#define CR4_PGE         0x00000080u
#define CR4_OSFXSR      0x00000200u
#define CR4_OSXMMEXCPT  0x00000400u

/* IA32_EFER (SDM Vol. 3, 2.2.1): of its bits only NXE exists for this CPU. */
#define EFER_NXE        0x00000800u

/* Exception vectors (SDM Vol. 3, 6.3.1). */
enum {
	VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5,
	VEC_UD = 6, VEC_NM = 7, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12,
	VEC_GP = 13, VEC_PF = 14, VEC_MF = 16, VEC_AC = 17, VEC_MC = 18, VEC_XM = 19,
};

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
	uint8_t pad3[VC_FX - 280];
	uint8_t fx[512] __attribute__((aligned(16)));
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
static_assert(offsetof(struct vcpu_shared, fx) == VC_FX, "VC_FX");

/* A segment register's hidden part. attr holds descriptor bits 40..55: the access
 * byte (type, S, DPL, P) in bits 0..7 and AVL, L, D/B, G in bits 12..15. */
struct seg {
	uint16_t sel;
	uint16_t attr;
	uint32_t base;
	uint32_t limit;         /* in bytes, granularity applied */
	uint64_t raw;           /* DS/ES loaded from the GDT by seg_load: the descriptor, A
				   set; else 0 (the rewriter's inline reload, K_SREG_LOAD) */
};
#define SEG_P           0x0080u
#define SEG_S           0x0010u
#define SEG_DB          0x4000u
#define SEG_G           0x8000u
#define SEG_DPL(a)      (((a) >> 5) & 3)
#define SEG_TYPE(a)     ((a) & 0xf)
#define SEG_UNUSABLE    0x10000u        /* never in attr; see seg_usable() */

struct dtr {
	uint32_t base;
	uint16_t limit;
};

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
	uint32_t cr0, cr2, cr3, cr4;
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
	uint32_t deliveries;            /* events delivered through the IDT (a counter) */
	bool intr_shadow;               /* after STI or MOV SS: no interrupt before the next
					   instruction (SDM Vol. 2, STI; Vol. 3, 6.8.3) */
};

/* Why the VM stopped; the process exit status is derived from it (main.c). */
enum vm_stop {
	STOP_NONE,
	STOP_DEBUG_EXIT,        /* port 0xf4: status (v << 1) | 1 */
	STOP_POWEROFF,          /* status 0 */
	STOP_RESET,             /* i8042 reset: like QEMU -no-reboot, status 0 */
	STOP_TRIPLE_FAULT,      /* status 4 */
	STOP_GUEST_DEAD,        /* e.g. HLT with interrupts off, status 4 */
	STOP_MONITOR_ERROR,     /* unsupported or internal, status 6 */
	STOP_SIGNAL,            /* SIGINT/SIGTERM/SIGHUP: status 128 + signal */
};

struct config {
	const char *kernel;
	const char *append;
	const char *serial;     /* "stdio" or a file name */
	uint64_t mem_size;
	uint32_t cache_size;    /* code cache bytes; 0 = all of the window's cache area */
	bool stats;
	bool trace;
	bool perf_map;          /* name translations for perf (/tmp/perf-PID.map) */
};

#define STATS_INSN_IDS 2048
#define CPUID_HOST_LEAVES 7

struct stats {
	uint64_t exits[8];              /* by EXIT_* reason */
	uint64_t callouts[STATS_INSN_IDS];      /* by Capstone instruction id */
	uint64_t direct_callouts;       /* callouts emulated without entering guest code */
	uint64_t kick_retries;          /* kicks that landed outside every block */
	uint64_t interrupts;            /* external interrupts delivered */
	uint64_t halt_sleeps;           /* host sleeps in HLT */
	uint64_t shadow_faults;         /* host page faults served by mapping a guest page */
	uint64_t guest_page_faults;     /* #PF delivered to the guest */
	uint64_t pages_mapped;
	uint64_t tlb_flushes;           /* CR3 loads and paging changes that dropped mappings */
	uint64_t user_unmaps;           /* supervisor pages dropped on the way to CPL 3 */
	uint64_t cr_writes[5];          /* MOV to CR0..CR4 */
	uint64_t linear_flushes;        /* translations unchained for a changed mapping */
	uint64_t cr3_detached;          /* blocks unchained by CR3 loads (their pages moved) */
	uint64_t blocks;
	uint64_t guest_insns;
	uint64_t guest_bytes;
	uint64_t host_bytes;
	uint64_t cold_bytes;            /* ... of them out of line (codecache.c) */
	uint64_t chained, unchained;
	uint64_t lookups, lookup_misses;
	uint64_t smc_invalidations;
	uint64_t page_flushes;          /* INVLPGs that detached one page's blocks */
	uint64_t pages_around;          /* pages mapped ahead of a fault (mmu.c) */
	uint64_t pages_kept;            /* mappings a TLB flush found unchanged (mmu.c) */
	uint64_t retry_maps;            /* pages mapped at the IRET after a #PF (mmu.c) */
	uint64_t sites_learnt;          /* instructions retranslated after a fault (sites.h) */
	uint64_t sites_returned;        /* ... and given back to native execution */
	uint64_t thunks_inlined;        /* calls of PC thunks translated in line (rewriter.c) */
	uint64_t ic_refills;            /* inline-cache entries given another target (codecache.c) */
	uint64_t site_run_insns;        /* learnt sites run after another without the dispatcher */
	uint64_t invalidated_blocks;
	uint64_t flushes;
	uint64_t faults[32];            /* host faults in guest code, by trap number */
	uint64_t exceptions[256];       /* events delivered through the IDT, by vector */
	uint64_t ldt_shadows;
	uint64_t translate_cycles;
};

struct codecache;
struct rewriter;
struct iobus;
struct mmiobus;
struct segshadow;
struct uart;
struct i8042;
struct pic;
struct pit;
struct rtc;
struct mmu;

struct vm {
	struct config cfg;
	struct cpu cpu;
	uint8_t *ram;                   /* guest physical 0 in the monitor's physmap */
	uint64_t ram_size;
	int ram_fd;
	struct codecache *cc;
	struct rewriter *rw;
	struct sites sites;             /* instructions translated otherwise, learnt at run time */
	struct iobus *io;
	struct mmiobus *mmio;           /* guest-physical device ranges (devices/mmio.h) */
	struct segshadow *shadow;
	struct mmu *mmu;                /* shadowmmu/mmu.c */
	bool segs_stale;                /* the segment shadows must be computed again */
	int8_t shadow_cpl[6];           /* the CPL each segment's shadow was made for */
	int entered_cpl;                /* the CPL of the last block entered */
	struct uart *com1;
	struct i8042 *kbc;              /* the keyboard controller (devices/i8042.c) */
	FILE *perf_map;                 /* open with cfg.perf_map */
	bool fpu_check;                 /* TRAPEZE_CHECK_FPU: compare the state across exits */
	bool fpu_at_exit_valid;
	uint32_t fpu_exit_reason;
	uint8_t fpu_at_exit[512] __attribute__((aligned(16)));
	void *altstack;                 /* signal stack of the vCPU thread */
	struct stats stats;
	bool one_step;                  /* run the next instruction as a one-shot block */
	struct block *entering;         /* the block tz_enter is starting, for signals */
	volatile int async_signal;      /* SIGINT/SIGTERM/SIGHUP taken, 0 if none */
	timer_t kick_timer;             /* SIGALRM: device deadlines, kicks tried again */
	bool kick_timer_ok;
	uint64_t timer_deadline;        /* what kick_timer is armed for (vclock ns) */
	volatile int timer_fired;       /* SIGALRM came: bring the devices up to date */
	bool io_dirty;                  /* the guest did port I/O: deadlines may change */
	int async_fd;                   /* COM1 input that raises SIGIO, or -1 */
	bool console_escape;            /* Ctrl-A seen on the console (console.c) */
	uint64_t espfix_page;           /* the IRETQ page of a 16-bit guest stack (cpu.c) */
	struct vclock clock;            /* CLOCK_MONOTONIC, for the timed devices */
	struct pic *pic;
	struct pit *pit;
	struct rtc *rtc;
	uint32_t host_cpuid[CPUID_HOST_LEAVES][4];      /* cpuid.c */
	enum vm_stop stop;
	int exit_status;
	char stop_msg[256];
	/* The last signal taken in guest code (signals.c fills it in). */
	struct {
		int sig, code, trapno;
		uint32_t err;
		uint64_t addr;
		uint32_t host_eip;
	} fault;
};

/* vm.c */
int vm_create(struct vm *vm, const struct config *cfg);
void vm_destroy(struct vm *vm);
void vm_stop(struct vm *vm, enum vm_stop why, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void vm_print_stats(struct vm *vm);

/* The guest's full EFLAGS and setting it: arithmetic flags in the host's EFLAGS image,
 * IF and the rest in the vCPU block (translated CLI/STI/PUSHF/POPF use them). */
static inline uint32_t cpu_eflags(const struct cpu *c)
{
	return (c->sh->eflags & FL_ARITH) | c->sh->vif | c->sh->vflags;
}
static inline void cpu_set_eflags(struct cpu *c, uint32_t f)
{
	c->sh->eflags = (f & FL_ARITH) | FL_IF | FL_1;
	c->sh->vif = f & FL_IF;
	c->sh->vflags = (f & ~(FL_ARITH | FL_IF | FL_RF | FL_VM)) | FL_1;
}
static inline bool cpu_if(const struct cpu *c) { return c->sh->vif != 0; }
static inline bool seg_usable(const struct seg *s) { return s->attr & SEG_P; }

#endif
