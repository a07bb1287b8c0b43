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

#include "../arch/vcpu.h"
#include "debug.h"
#include "hostrt.h"
#include "gsload.h"
#include "kentry.h"
#include "../devices/clock.h"
#include "../devices/pc.h"
#include "../devices/dma.h"
#include "../rewriter/sites.h"
#include "../shadowmmu/mem.h"

/* Why the VM stopped; the process exit status is derived from it (main.c). */
enum vm_stop {
	STOP_NONE,
	STOP_DEBUG_EXIT,        /* port 0xf4: status (v << 1) | 1 */
	STOP_POWEROFF,          /* status 0 */
	STOP_RESET,             /* a device reset the machine: like QEMU -no-reboot, status 0 */
	STOP_TRIPLE_FAULT,      /* status 4 */
	STOP_GUEST_DEAD,        /* e.g. HLT with interrupts off, status 4 */
	STOP_MONITOR_ERROR,     /* unsupported or internal, status 6 */
	STOP_SIGNAL,            /* SIGINT/SIGTERM/SIGHUP: status 128 + signal */
};

#define VM_MAX_VDISKS 8          /* PC_VIRTIO_MAX_DISKS */

struct config {
	const char *kernel;
	const char *append;
	const char *serial;     /* "stdio" or a file name */
	uint64_t mem_size;
	uint32_t cache_size;    /* code cache bytes; 0 = all of the window's cache area */
	bool stats;
	bool trace;
	bool perf_map;          /* name translations for perf (/tmp/perf-PID.map) */
	struct blockdev *disk;  /* --disk's image, opened by main.c (devices/blockdev.h), or
				   NULL; the VM owns it from vm_create() on */
	struct netdev *net;     /* --net's back end, the same way (devices/netdev.h) */
	struct blockdev *vdisk[VM_MAX_VDISKS];  /* --disk FILE,if=virtio: the virtio disks, */
	int nvdisks;                            /* in order; the VM owns them the same way */
	bool net_virtio;        /* --net ...,model=virtio: net is a virtio-net's, not the NE2000's */
	bool rng;               /* --rng: a virtio entropy device */
};

#define STATS_INSN_IDS 2048
#define CPUID_HOST_LEAVES 7

struct stats {
	uint64_t exits[EXIT_REASONS];   /* by EXIT_* reason */
	uint64_t callouts[STATS_INSN_IDS];      /* by Capstone instruction id */
	uint64_t direct_callouts;       /* callouts emulated without entering guest code */
	uint64_t kick_retries;          /* kicks that landed outside every block */
	uint64_t interrupts;            /* external interrupts delivered */
	uint64_t halt_sleeps;           /* host sleeps in HLT */
	uint64_t cr_writes[5];          /* MOV to CR0..CR4 */
	uint64_t lookup_misses;
	uint64_t smc_invalidations;
	uint64_t sites_learnt;          /* instructions retranslated after a fault (sites.h) */
	uint64_t sites_returned;        /* ... and given back to native execution */
	uint64_t cut_retranslations;    /* blocks cut by an absent page, found stale (emulate.c) */
	uint64_t site_run_insns;        /* learnt sites run after another without the dispatcher */
	uint64_t faults[32];            /* host faults in guest code, by trap number */
	uint64_t exceptions[256];       /* events delivered through the IDT, by vector */
	uint64_t ldt_shadows;
	uint64_t ldt_replays;            /* LDT catch-ups after pool resets */
	uint64_t ldt_writes;             /* pool entries written into a process's LDT */
	uint64_t ldt_faults;             /* ... of them, on a host fault loading it */
	uint64_t handoffs;               /* the vCPU handed to another process (aspaces.c) */
};

struct codecache;
struct gdb;
struct engine_ops;
struct machine_ops;
struct blockdev;
struct netdev;
struct para;
struct rewriter;
struct iobus;
struct mmiobus;
struct segshadow;
struct uart;
struct board;
struct lapic;
struct pci_bus;
struct intc;
struct mmu;

struct vm {
	struct config cfg;
	struct cpu cpu;
	struct guest_mem mem;           /* guest RAM (shadowmmu/mem.h) */
	struct codecache *cc;
	struct rewriter *rw;
	struct sites sites;             /* instructions translated otherwise, learnt at run time */
	struct board *board;            /* the machine's devices (devices/board.h, pc.h) */
	struct iobus *io;               /* the board's port bus, kept here for the emulator */
	struct mmiobus *mmio;           /* the board's guest-physical device ranges (mmio.h) */
	struct segshadow *shadow;
	struct mmu *mmu;                /* shadowmmu/mmu.c */
	bool segs_stale;                /* the segment shadows must be computed again */
	int8_t shadow_cpl[6];           /* the CPL each segment's shadow was made for */
	int entered_cpl;                /* the CPL of the last block entered */
	struct kentry kentry;           /* SYSENTER/SYSEXIT in translated code (kentry.h) */
	struct gs_cache gsc;            /* GS loads in translated code (gsload.h) */
	struct uart *com1;              /* the console UART, on the board */
	struct lapic *lapic;            /* the CPU's local APIC, on the board (its MSRs) */
	struct pci_bus *pci;            /* PCI bus 0, on the board */
	struct pc_parts parts;          /* what the board builder said it built (pc.h) */
	struct dma_space dma;           /* guest RAM as the board's bus masters see it */
	FILE *perf_map;                 /* open with cfg.perf_map */
	bool fpu_check;                 /* TRAPEZE_CHECK_FPU: compare the state across exits */
	bool fpu_at_exit_valid;
	uint32_t fpu_exit_reason;
	uint8_t fpu_at_exit[512] __attribute__((aligned(16)));
	struct stats stats;
	uint32_t cut_retry;             /* linear + 1 of the last stale cut block (emulate.c) */
	uint32_t callout_info;          /* this callout's exit info: CALLOUT_CUT, CALLOUT_CR3 */
	struct aspaces *asp;            /* the processes of address spaces, or NULL (aspaces.c) */
	struct hostrt rt;               /* signals, timer, console (hostrt.h) */
	bool one_step;                  /* run the next instruction as a one-shot block */
	struct dbg dbg;                 /* breakpoints and single-stepping (debug.h) */
	struct gdb *gdb;                /* the gdb stub (gdbstub.h), or NULL */
	const struct engine_ops *engine;        /* how guest code runs (engine.h) */
	const struct machine_ops *machine;      /* the machine the guest sees (engine.h) */
	struct para *para;              /* a para-x86 guest's state (para.h), or NULL */
	int serial_out;                 /* COM1's host descriptor: the para console too */
	struct {                        /* the last direct exit, to chain (engine_bt.c) */
		struct block *from;
		int slot;
		uint32_t gen;           /* the cache's generation at that exit */
		uint32_t guard;         /* EXIT_GUARD's info (block << 3 | entry) + 1, or 0 */
	} bt_link;
	bool io_dirty;                  /* the guest touched a timed device: deadlines may move
					 * (set by the I/O bus, board_create) */
	uint64_t image_end;             /* the top of the kernel image as loaded (multiboot.c) */
	struct vclock clock;            /* CLOCK_MONOTONIC, for the timed devices */
	uint64_t tsc_hz;                /* the TSC's rate, once measured (IA32_TSC_DEADLINE) */
	const struct intc *intc;        /* the board's interrupt controller (devices/intc.h) */
	uint32_t host_cpuid[CPUID_HOST_LEAVES][4];      /* cpuid.c */
	enum vm_stop stop;
	int exit_status;
	char stop_msg[256];
};

/* vm.c */
int vm_create(struct vm *vm, const struct config *cfg);
void vm_destroy(struct vm *vm);
void vm_stop(struct vm *vm, enum vm_stop why, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void vm_print_stats(struct vm *vm);

#endif
