/*
 * vm.c - create, stop and destroy a VM; its statistics.
 *
 * vm_create() builds the address space (mem.c), the vCPU block and stubs in the
 * window, the host LDT, the code cache and translator, the board with its devices
 * (devices/pc.c) and the signal handlers, and puts the CPU in the state a boot loader
 * starts from. The devices reach the VM only through the stop hook wired here.
 */
#define _GNU_SOURCE
#include "vm.h"
#include "engine.h"
#include "para.h"
#include "interrupts.h"
#include "memop_native.h"
#include "mmuhost.h"
#include "../shadowmmu/mmu.h"
#include "cpuid.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#include <capstone/capstone.h>

#include "fpu.h"
#include "segments.h"
#include "signals.h"
#include "stubs.h"
#include "../codecache/codecache.h"
#include "../devices/blockdev.h"
#include "../devices/netdev.h"
#include "../devices/board.h"
#include "../devices/acpi.h"
#include "../devices/mptable.h"
#include "../devices/pc.h"
#include "../devices/pc_virtio.h"
#include "../rewriter/rewriter.h"
#include "aspaces.h"
#include "rwhost.h"
#include "../shadowmmu/mem.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

static void init_vcpu_block(struct vm *vm)
{
	struct vcpu_shared *sh = (struct vcpu_shared *)(uintptr_t)VCPU_ADDR;
	unsigned long fsbase = 0;

	vm->cpu.sh = sh;
	memcpy((void *)(uintptr_t)STUB_ADDR, tz_stubs_start, (size_t)(tz_stubs_end - tz_stubs_start));
	sh->farptr_off = stub_addr(tz_stub_exit64);
	sh->farptr_sel = HOST_CS64;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fsbase);
	sh->host_fsbase = fsbase;
	sh->have_fsgs = !!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE);
	/* The guest's FPU starts as after FNINIT, with SSE exceptions masked. */
	memset(sh->fx, 0, sizeof(sh->fx));
	uint16_t fcw = 0x037f;
	uint32_t mxcsr = 0x1f80;
	memcpy(sh->fx, &fcw, 2);
	memcpy(sh->fx + 24, &mxcsr, 4);
	sh->fpu_saved = 1;
}

static void reset_cpu(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	c->cr0 = CR0_PE | CR0_ET;
	c->sh->vflags = FL_1;
	c->sh->eflags = FL_IF | FL_1;
	c->cpl = 0;
	c->delivering = -1;
	c->idtr.limit = 0x3ff;
	c->tsc_base = 0;        /* the guest reads the host's TSC natively until it sets one */
	c->tsc_adjust = 0;
	for (int sr = 0; sr < SR_COUNT; sr++)
		seg_set(vm, sr, 0, 0, 0, 0);
}

/* A device stopped the machine (devices/board.h): the VM stops the same way. */
static void board_stopped(void *opaque, enum board_stop why, int status, const char *msg)
{
	static const enum vm_stop as_vm[] = {
		[BOARD_RESET] = STOP_RESET, [BOARD_POWEROFF] = STOP_POWEROFF,
		[BOARD_EXIT] = STOP_DEBUG_EXIT,
	};
	vm_stop(opaque, as_vm[why], status, "%s", msg);
}

/* Guest RAM as the board's bus masters reach it (devices/dma.h): a range to be
 * written is reported first (its translated code dropped, its page tables no longer
 * traced), as mem_write_phys() does. */
static void *guest_dma_map(void *opaque, uint64_t pa, uint64_t len, bool write)
{
	struct guest_mem *mem = opaque;
	uint8_t *p = mem_phys(mem, pa, len);
	if (p && write)
		mem_report_write(mem, pa, len);
	return p;
}

/* The PC board, COM1 writing to stdout or to the --serial file. */
static int board_init(struct vm *vm)
{
	int out = 1;
	if (strcmp(vm->cfg.serial, "stdio") != 0) {
		out = open(vm->cfg.serial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out < 0) {
			int r = -errno;
			fprintf(stderr, "trapeze: cannot open serial output %s: %s\n", vm->cfg.serial,
				strerror(-r));
			return r;
		}
	}
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	struct pc_config pc = {
		.clock = &vm->clock,
		.epoch_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec,
		.ram_size = vm->mem.size,
		.serial_in = 0,
		.serial_out = out,
		.trace = vm->cfg.trace,
		.disk = vm->cfg.disk,
		.net = vm->cfg.net_virtio ? NULL : vm->cfg.net,        /* the NE2000's */
		.stop = { board_stopped, vm },
	};
	vm->serial_out = out;
	vm->board = board_create(&vm->io_dirty);
	struct pc_parts *parts = &vm->parts;
	int r = vm->board ? 0 : -ENOMEM;
	/* The network back end's own work (libslirp's sockets and timers) is the board's
	 * first device, whatever the builder adds: an update serves it, then the card
	 * takes what it received in the same turn. */
	if (r == 0 && vm->cfg.net) {
		struct board_dev svc = netdev_service(vm->cfg.net);
		r = board_add(vm->board, &svc);
	}
	if (r == 0)
		r = pc_build(vm->board, &pc, parts);
	if (r < 0) {
		fprintf(stderr, "trapeze: cannot create the devices: %s\n", strerror(-r));
		return r;
	}
	vm->dma = (struct dma_space){ guest_dma_map, &vm->mem };
	struct pc_virtio_config vio = {
		.disks = vm->cfg.vdisk, .ndisks = vm->cfg.nvdisks, .rng = vm->cfg.rng,
		.net = vm->cfg.net_virtio ? vm->cfg.net : NULL,
	};
	r = pc_add_virtio(vm->board, parts->pci, &vm->dma, &vio);
	if (r < 0) {
		fprintf(stderr, "trapeze: cannot create the virtio devices: %s\n", strerror(-r));
		return r;
	}
	vm->com1 = parts->com1;
	vm->lapic = parts->lapic;
	vm->pci = parts->pci;
	vm->io = board_io(vm->board);
	vm->mmio = board_mmio(vm->board);
	vm->intc = board_intc(vm->board);
	intr_watch_input(vm, 0);
	if (vm->cfg.net) {              /* a frame that arrives kicks the guest, as typing does */
		intr_watch_input(vm, netdev_fd(vm->cfg.net));
		netdev_set_vector_hook(vm->cfg.net, fpu_save);
	}
	return 0;
}

/* The MP table a PC BIOS leaves (devices/mptable.h), where a BIOS leaves it, so that
 * a kernel finds the APICs without ACPI. Loaded kernels go elsewhere (1 MiB up). */
static void write_mptable(struct vm *vm)
{
	uint32_t regs[8] = { 0 };
	regs[R_EAX] = 1;
	cpuid_emulate(vm, regs);
	struct mptable t;
	pc_mptable(&vm->parts, regs[R_EAX], regs[R_EDX], &t);
	uint8_t buf[512];
	size_t n = mptable_build(&t, PC_MPTABLE_ADDR, buf, sizeof(buf));
	if (n)
		mem_write_phys(&vm->mem, PC_MPTABLE_ADDR, buf, n);
}

/* The ACPI tables (devices/acpi.h) in the same BIOS area, after the MP table. */
static void write_acpi(struct vm *vm)
{
	struct acpi a;
	pc_acpi(&vm->parts, &a);
	uint8_t buf[PC_ACPI_MAX];
	size_t n = acpi_build(&a, PC_ACPI_ADDR, buf, sizeof(buf));
	if (n)
		mem_write_phys(&vm->mem, PC_ACPI_ADDR, buf, n);
}

int vm_create(struct vm *vm, const struct config *cfg)
{
	int r;
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->engine = &engine_bt;
	vm->machine = &machine_x86;
	intr_init(vm);

	r = mem_init(&vm->mem, cfg->mem_size);
	if (r < 0) {
		fprintf(stderr, "trapeze: cannot set up the address space: %s\n", strerror(-r));
		return r;
	}
	init_vcpu_block(vm);
	if (memop_native_init() < 0) {
		r = -errno;
		fprintf(stderr, "trapeze: cannot protect the window's probe page: %s\n", strerror(errno));
		goto err;
	}
	r = mmuhost_init(vm);
	if (r < 0) {
		fprintf(stderr, "trapeze: out of memory\n");
		goto err;
	}
	r = shadow_init(vm);
	if (r < 0) {
		fprintf(stderr, "trapeze: this host cannot create LDT segments (modify_ldt: %s); "
			"trapeze needs CONFIG_MODIFY_LDT_SYSCALL\n", strerror(-r));
		goto err;
	}
	if (cfg->perf_map) {
		char name[64];
		snprintf(name, sizeof(name), "/tmp/perf-%d.map", (int)getpid());
		vm->perf_map = fopen(name, "w");
		if (!vm->perf_map) {
			r = -errno;
			fprintf(stderr, "trapeze: --perf-map: %s: %s\n", name, strerror(errno));
			goto err;
		}
		setvbuf(vm->perf_map, NULL, _IOLBF, 0);
	}
	r = -ENOMEM;
	rwhost_create(vm);
	if (!vm->cc || !vm->rw) {
		fprintf(stderr, "trapeze: out of memory\n");
		goto err;
	}
	r = board_init(vm);
	if (r < 0)
		goto err;
	r = signals_init(vm);
	if (r < 0) {
		fprintf(stderr, "trapeze: cannot install signal handlers: %s\n", strerror(-r));
		goto err;
	}
	cpuid_init(vm);
	write_mptable(vm);
	write_acpi(vm);
	reset_cpu(vm);
	fs_alt_publish(vm);
	gs_cache_clear(vm);
	return 0;
err:
	vm_destroy(vm);
	return r;
}

void vm_destroy(struct vm *vm)
{
	intr_exit(vm);                  /* no SIGIO once the handlers are gone (it kills) */
	if (vm->rt.altstack)
		signals_exit(vm);
	bt_espfix_release();
	if (vm->perf_map)
		fclose(vm->perf_map);
	vm->perf_map = NULL;
	board_destroy(vm->board);   /* the para timer with it: before its state goes */
	vm->board = NULL;
	para_destroy(vm);
	blockdev_close(vm->cfg.disk);
	vm->cfg.disk = NULL;
	for (int k = 0; k < vm->cfg.nvdisks; k++)
		blockdev_close(vm->cfg.vdisk[k]);
	vm->cfg.nvdisks = 0;
	netdev_close(vm->cfg.net);
	vm->cfg.net = NULL;
	vm->io = NULL;
	vm->mmio = NULL;
	vm->intc = NULL;
	vm->com1 = NULL;
	rw_destroy(vm->rw);
	cc_destroy(vm->cc);
	if (vm->shadow)
		shadow_exit(vm);
	mmuhost_exit(vm);
	mem_exit(&vm->mem);
	vm->rw = NULL;
	vm->cc = NULL;
}

void vm_stop(struct vm *vm, enum vm_stop why, int status, const char *fmt, ...)
{
	if (vm->stop != STOP_NONE)
		return;
	vm->stop = why;
	vm->exit_status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
	va_end(ap);
}

static const char *const exit_names[EXIT_REASONS] = {
	[EXIT_CHAIN] = "branch (unchained)", [EXIT_LOOKUP] = "indirect lookup miss",
	[EXIT_CALLOUT] = "callout", [EXIT_FAULT] = "host fault",
	[EXIT_IC_FILL] = "indirect branch, first",
	[EXIT_IC_REFILL] = "indirect branch, refill", [EXIT_BREAK] = "breakpoint",
	[EXIT_GUARD] = "detached entry",
};

void vm_print_stats(struct vm *vm)
{
	const struct stats *s = &vm->stats;
	const struct cc_stats *ccs = cc_stats(vm->cc);
	const struct mmu_stats *ms = mmu_stats(vm->mmu);
	const struct rw_stats *rs = rw_stats(vm->rw);
	FILE *f = stderr;
	uint64_t total = 0;
	for (int i = 0; i < EXIT_REASONS; i++)
		total += s->exits[i];
	fprintf(f, "trapeze stats:\n  monitor exits            %llu\n", (unsigned long long)total);
	for (int i = 0; i < EXIT_REASONS; i++)
		if (s->exits[i])
			fprintf(f, "    %-22s %llu\n", exit_names[i] ? exit_names[i] : "?",
				(unsigned long long)s->exits[i]);
	fprintf(f, "  callouts without entry   %llu\n", (unsigned long long)s->direct_callouts);
	fprintf(f, "  kick retries             %llu\n", (unsigned long long)s->kick_retries);
	fprintf(f, "  interrupts delivered     %llu\n", (unsigned long long)s->interrupts);
	fprintf(f, "  sleeps in HLT            %llu\n", (unsigned long long)s->halt_sleeps);
	if (s->cr_writes[0] || s->cr_writes[3] || s->cr_writes[4])
		fprintf(f, "  CR writes: CR0 %llu, CR3 %llu, CR4 %llu; translations unchained for "
			"mapping changes %llu (blocks detached by CR3 loads %llu; INVLPGs of one "
			"page's code %llu; global blocks found no longer global %llu)\n",
			(unsigned long long)s->cr_writes[0], (unsigned long long)s->cr_writes[3],
			(unsigned long long)s->cr_writes[4], (unsigned long long)ccs->linear_flushes,
			(unsigned long long)ccs->cr3_detached, (unsigned long long)ccs->page_flushes,
			(unsigned long long)ccs->globals_demoted);
	if (ccs->cr3_checked)
		fprintf(f, "  blocks checked by CR3 loads %llu; detached blocks attached again by a "
			"lookup %llu (found through their closed guard %llu, by their parked chain "
			"%llu), by a CR3 load back %llu; guards taken into another space's code %llu, "
			"parked chains restored %llu\n",
			(unsigned long long)ccs->cr3_checked, (unsigned long long)ccs->attached,
			(unsigned long long)ccs->guards_opened, (unsigned long long)ccs->unparked,
			(unsigned long long)ccs->space_attached, (unsigned long long)ccs->guards_parked,
			(unsigned long long)ccs->chains_unparked);
	if (ms->tables_traced)
		fprintf(f, "  traced page tables: made read-only %llu, written %llu (global TLB "
			"fills over local code %llu); kept by them unasked: local entries %llu, "
			"blocks attached by a CR3 load back %llu\n",
			(unsigned long long)ms->tables_traced, (unsigned long long)ms->tables_written,
			(unsigned long long)ms->trace_global_fills,
			(unsigned long long)ccs->cr3_kept_traced,
			(unsigned long long)ccs->space_kept_traced);
	if (ms->pages_mapped || ms->tlb_flushes)
		fprintf(f, "  paging: pages mapped %llu (%llu ahead of a fault, %llu as their entry was "
			"written), host faults served %llu, guest #PF %llu (%llu mapped at the IRET), "
			"TLB flushes %llu (%llu mappings kept; %llu flushes kept all by comparing "
			"table entries)\n",
			(unsigned long long)ms->pages_mapped, (unsigned long long)ms->pages_around,
			(unsigned long long)ms->prefaults,
			(unsigned long long)ms->shadow_faults, (unsigned long long)ms->guest_page_faults,
			(unsigned long long)ms->retry_maps, (unsigned long long)ms->tlb_flushes,
			(unsigned long long)ms->pages_kept, (unsigned long long)ms->snap_flushes);
	if (ms->host_calls)
		fprintf(f, "  paging host calls        %llu (pages mapped again at once %llu, "
			"from working sets %llu; parked pages given back by an mprotect %llu)\n",
			(unsigned long long)ms->host_calls, (unsigned long long)ms->remaps,
			(unsigned long long)ms->ws_maps, (unsigned long long)ms->unparked);
	csh cs;
	bool names = cs_open(CS_ARCH_X86, CS_MODE_32, &cs) == CS_ERR_OK;
	for (int i = 0; i < STATS_INSN_IDS; i++)
		if (s->callouts[i])
			fprintf(f, "      callout %-13s %llu\n", names ? cs_insn_name(cs, (unsigned)i) : "?",
				(unsigned long long)s->callouts[i]);
	if (names)
		cs_close(&cs);
	fprintf(f, "  blocks translated        %llu\n", (unsigned long long)ccs->blocks);
	fprintf(f, "  guest instructions       %llu\n", (unsigned long long)ccs->guest_insns);
	fprintf(f, "  guest bytes translated   %llu\n", (unsigned long long)ccs->guest_bytes);
	fprintf(f, "  translated bytes         %llu (and %llu out of line)\n",
		(unsigned long long)ccs->host_bytes, (unsigned long long)ccs->cold_bytes);
	if (ccs->guest_insns)
		fprintf(f, "  cycles per guest insn    %llu (translation)\n",
			(unsigned long long)(rs->translate_cycles / ccs->guest_insns));
	if (rs->decodes)
		fprintf(f, "  decodes kept by bytes    %llu of %llu (Capstone not asked again)\n",
			(unsigned long long)rs->decodes_kept, (unsigned long long)rs->decodes);
	fprintf(f, "  chained jumps            %llu\n", (unsigned long long)ccs->chained);
	fprintf(f, "  unchained jumps          %llu\n", (unsigned long long)ccs->unchained);
	fprintf(f, "  dispatcher lookups       %llu\n", (unsigned long long)ccs->lookups);
	fprintf(f, "  indirect lookup misses   %llu\n", (unsigned long long)s->lookup_misses);
	fprintf(f, "  SMC invalidations        %llu (%llu blocks)\n",
		(unsigned long long)s->smc_invalidations, (unsigned long long)ccs->invalidated_blocks);
	fprintf(f, "  cache flushes            %llu\n", (unsigned long long)ccs->flushes);
	fprintf(f, "  sites learnt             %llu (faulting instructions made callouts; %llu "
		"given back; %llu runs in a row)\n", (unsigned long long)s->sites_learnt,
		(unsigned long long)s->sites_returned, (unsigned long long)s->site_run_insns);
	if (s->cut_retranslations)
		fprintf(f, "  stale cut blocks         %llu (ran into a page that came since)\n",
			(unsigned long long)s->cut_retranslations);
	fprintf(f, "  host LDT shadows         %llu (LDT writes %llu, of them on a host fault %llu)\n",
		(unsigned long long)s->ldt_shadows, (unsigned long long)s->ldt_writes,
		(unsigned long long)s->ldt_faults);
	if (vm->asp)
		fprintf(f, "  address-space processes  %d (vCPU handed over %llu times; LDT caught up "
			"with a pool reset %llu times)\n", aspaces_count(vm),
			(unsigned long long)s->handoffs, (unsigned long long)s->ldt_replays);
	fprintf(f, "  system calls in line     %llu (SYSENTER, SYSEXIT, INT n, IRET; prepared "
		"%llu times)\n", (unsigned long long)vm->kentry.transitions,
		(unsigned long long)vm->kentry.made);
	fprintf(f, "  GS loads in line         %llu\n", (unsigned long long)vm->gsc.loads);
	fprintf(f, "  PC thunk calls inlined   %llu\n", (unsigned long long)rs->thunks_inlined);
	fprintf(f, "  inline caches refilled   %llu\n", (unsigned long long)ccs->ic_refills);
	for (int i = 0; i < 32; i++)
		if (s->faults[i])
			fprintf(f, "  host faults, trap %-6d %llu\n", i, (unsigned long long)s->faults[i]);
	for (int i = 0; i < 256; i++)
		if (s->exceptions[i])
			fprintf(f, "  delivered, vector %-5d %llu%s\n", i,
				(unsigned long long)s->exceptions[i], i < 32 ? " (exception)" : "");
}
