/*
 * mmuhost.c - the monitor's side of the shadow MMU's hooks (see mmuhost.h).
 *
 * The shadow MMU and guest memory know nothing of the monitor: they call these
 * through function pointers with the VM as the opaque pointer. Each is what the
 * shadow MMU did itself before it had hooks; the fault path reaches only
 * page_written (a write to translated code or a traced page table) and page_fault.
 */
#include "mmuhost.h"

#include <errno.h>

#include "exceptions.h"
#include "vm.h"
#include "../codecache/codecache.h"
#include "../shadowmmu/mmu.h"

/* A write reaches a traced page table (its tracing ends), or translated code: its
 * blocks go, and the guest's own write, faulted in translated code, is then redone
 * as a one-shot block with its page writable. */
static void page_written(void *opaque, uint32_t ppn, unsigned what, bool guest)
{
	struct vm *vm = opaque;
	if ((what & MEM_WP_TABLE) && vm->mmu)
		mmu_table_written(vm->mmu, ppn);
	if (!(what & MEM_WP_CODE))
		return;
	vm->stats.smc_invalidations++;
	cc_invalidate_page(vm->cc, ppn);
	if (guest)
		vm->one_step = true;
}

static void flush_linear(void *opaque, bool keep_global)
{
	struct vm *vm = opaque;
	if (keep_global)        /* a CR3 load under CR4.PGE */
		cc_switch_space(vm->cc, vm->cpu.cr3);
	else
		cc_flush_linear(vm->cc, false);
}

static void flush_linear_page(void *opaque, uint32_t lpn)
{
	struct vm *vm = opaque;
	cc_flush_linear_page(vm->cc, lpn);
}

static bool linear_has_code(void *opaque, uint32_t lpn)
{
	struct vm *vm = opaque;
	return cc_linear_has_code(vm->cc, lpn);
}

static bool local_code_in(void *opaque, uint32_t first, uint32_t npg)
{
	struct vm *vm = opaque;
	return cc_local_code_in(vm->cc, first, npg);
}

static bool region_has_large_code(void *opaque, uint32_t first, uint32_t npg)
{
	struct vm *vm = opaque;
	return cc_region_has_large_code(vm->cc, first, npg);
}

static void page_fault(void *opaque, uint32_t lin, uint32_t err)
{
	struct vm *vm = opaque;
	vm->cpu.sh->cr2 = lin;
	exc_raise(vm, VEC_PF, true, err);
}

static void segs_stale(void *opaque)
{
	struct vm *vm = opaque;
	vm->segs_stale = true;
}

static void fail(void *opaque, const char *msg)
{
	struct vm *vm = opaque;
	vm_stop(vm, STOP_MONITOR_ERROR, 6, "%s", msg);
}

int mmuhost_init(struct vm *vm)
{
	const struct mmu_hooks hooks = {
		.opaque = vm,
		.flush_linear = flush_linear,
		.flush_linear_page = flush_linear_page,
		.linear_has_code = linear_has_code,
		.local_code_in = local_code_in,
		.region_has_large_code = region_has_large_code,
		.page_fault = page_fault,
		.segs_stale = segs_stale,
		.fail = fail,
	};
	vm->mem.written = page_written;
	vm->mem.opaque = vm;
	vm->mmu = mmu_create(&vm->cpu, &vm->mem, &hooks);
	return vm->mmu ? 0 : -ENOMEM;
}

void mmuhost_exit(struct vm *vm)
{
	mmu_destroy(vm->mmu);
	vm->mmu = NULL;
}
