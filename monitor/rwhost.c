/*
 * rwhost.c - the monitor's side of the translator's and the code cache's interfaces
 * (struct rw_host of rewriter.h, struct cc_host of codecache.h): guest memory as the
 * shadow MMU sees it, guest exceptions and stopping the VM, each a one-line call into
 * the monitor. The translator and the code cache include no monitor/ header; this
 * file is where they meet the VM.
 *
 * Interface: vm_create() calls rwhost_create(), which creates the code cache and the
 * translator wired to the VM; the opaque pointer of both interfaces is the struct vm.
 */
#include "rwhost.h"

#include "exceptions.h"
#include "segments.h"
#include "stubs.h"
#include "vm.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/mem.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"

static unsigned fetch_acc(bool user)
{
	return PF_ACC_FETCH | (user ? PF_ACC_USER : 0);
}

static int host_peek(void *opaque, uint32_t lin, bool user, uint64_t *pa)
{
	struct vm *vm = opaque;
	return mmu_peek(vm->mmu, lin, fetch_acc(user), pa);
}

static int host_peek_once(void *opaque, uint32_t lin, bool user, uint64_t *pa, bool *traced)
{
	struct vm *vm = opaque;
	return mmu_peek_fetch(vm->mmu, lin, user, pa, traced);
}

static bool host_global(void *opaque, uint32_t lin)
{
	struct vm *vm = opaque;
	return mmu_global(vm->mmu, lin);
}

static void host_protect_code(void *opaque, uint32_t ppn, bool readonly)
{
	struct vm *vm = opaque;
	mmu_protect_code(vm->mmu, ppn, readonly);
}

static int host_translate(void *opaque, uint32_t lin, bool user, uint64_t *pa)
{
	struct vm *vm = opaque;
	return mmu_translate(vm->mmu, lin, fetch_acc(user), pa);
}

static const uint8_t *host_phys(void *opaque, uint64_t pa, uint32_t len)
{
	struct vm *vm = opaque;
	return mem_phys(&vm->mem, pa, len);
}

static int host_fetch(void *opaque, uint32_t lin, void *buf, uint32_t len, bool user)
{
	return lin_access(opaque, lin, buf, len, fetch_acc(user));
}

static void host_raise(void *opaque, int vector, bool has_err, uint32_t err)
{
	exc_raise(opaque, vector, has_err, err);
}

static void host_stop(void *opaque, const char *msg)
{
	vm_stop(opaque, STOP_MONITOR_ERROR, 6, "%s", msg);
}

static bool host_page_is(void *opaque, uint32_t lin, unsigned attr)
{
	struct vm *vm = opaque;
	return attr == RW_PAGE_GLOBAL ? mmu_global(vm->mmu, lin) : mmu_large(vm->mmu, lin);
}

void rwhost_create(struct vm *vm)
{
	const struct cc_host cch = {
		.peek = host_peek, .peek_once = host_peek_once, .global = host_global,
		.protect_code = host_protect_code, .trace_epoch = &vm->mem.trace_epoch,
		.opaque = vm,
	};
	const struct rw_host rwh = {
		.translate = host_translate, .peek = host_peek, .phys = host_phys,
		.fetch = host_fetch, .raise = host_raise, .stop = host_stop,
		.page_is = host_page_is, .opaque = vm,
		.far_exit = stub_addr(tz_stub_far_exit),
		.lookup_miss = stub_addr(tz_stub_lookup_miss),
	};
	vm->cc = cc_create(vm->cfg.cache_size, (uint32_t)(vm->mem.size >> 12),
			   stub_addr(tz_stub_empty_hit), &cch);
	if (vm->cc)
		vm->rw = rw_create(&rwh, &vm->cpu, &vm->sites, vm->cc, vm->cfg.trace, vm->perf_map);
}
